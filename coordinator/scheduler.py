"""APScheduler (3.11) running the campaign sweeps, once per deployment.

On PostgreSQL several processes may run `serve` or `worker`; a session-level advisory lock
elects one leader (`coordinator/leader.py`), and only the leader sweeps. Followers try again
every tick, so if the leader dies (its connection closes, the lock goes) another takes over
within a tick. On SQLite there is one process by design (a lock file keeps a second one out).
Either way the sweeps are idempotent, so a duplicate tick is harmless: the lock keeps the work
from being done twice, not correctness.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from coordinator import leader as leadership
from coordinator.base import utcnow
from coordinator.campaigns.sweeps import sweep
from coordinator.db import Database
from coordinator.settings import Settings
from coordinator.tallies.digests import queue_digests

logger = logging.getLogger("coordinator.scheduler")
LOCK_KEY = 0x636F6F7264  # "coord": the advisory lock every Coordinator process asks for
TICK_SECONDS = 30


class Leader(leadership.Leader):
    """The scheduler's lock."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, LOCK_KEY, "scheduler")


async def tick(
    db: Database, settings: Settings, leader: Leader, now: datetime | None = None
) -> None:
    if not await leader.try_lead():
        return
    now = now or utcnow()
    try:
        report = await sweep(db, now, settings.timezone)
        digests = await queue_digests(db, now, settings.timezone)
    except Exception:
        logger.exception("scheduler sweep failed; the next tick tries again")
        return
    if digests:
        logger.info("digests queued: %s", digests)
    if report.launched or report.reminded or report.closed:
        logger.info(
            "sweep: launched %s, reminded %s, closed %s",
            report.launched,
            report.reminded,
            report.closed,
        )


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[AsyncIOScheduler]:
    """The scheduler until the block ends; its first tick runs at once."""
    leader = Leader(db)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        tick,
        "interval",
        seconds=TICK_SECONDS,
        args=(db, settings, leader),
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
        await leader.step_down()
