"""APScheduler (3.11) running the campaign sweeps, once per deployment.

On PostgreSQL several processes may run `serve` or `worker`; a session-level advisory lock
elects one leader, and only the leader sweeps. Followers try again every tick, so if the
leader dies (its connection closes, the lock goes) another takes over within a tick. On SQLite
there is one process by design. Either way the sweeps are idempotent, so a duplicate tick is
harmless: the lock keeps the work from being done twice, not correctness.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from coordinator.base import utcnow
from coordinator.bots.retention import purge_handled_updates
from coordinator.campaigns.sweeps import sweep
from coordinator.db import Database
from coordinator.settings import Settings
from coordinator.tallies.digests import queue_digests
from coordinator.tallies.summary import recount_summary

logger = logging.getLogger("coordinator.scheduler")
LOCK_KEY = 0x636F6F7264  # "coord": the advisory lock every Coordinator process asks for
TICK_SECONDS = 30
RECOUNT_EVERY = timedelta(hours=1)  # the exact tally recount: a full scan, so not every tick


class Leader:
    """Holds the advisory lock on a connection of its own while this process leads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None
        self.recounted_at: datetime | None = None  # this process's last tally recount

    async def try_lead(self) -> bool:
        if self.db.dialect != "postgresql":
            return True
        if self._connection is not None:
            if await self._still_held():
                return True
            logger.warning("lost the scheduler lock's connection; trying to lead again")
        connection = await self.db.engine.connect()
        got = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
        if got:
            await connection.commit()  # end the implicit transaction; the lock is per session
            self._connection = connection
            logger.info("this process now runs the scheduler")
            return True
        await connection.close()
        return False

    async def _still_held(self) -> bool:
        """The lock lives as long as its connection: check the connection is still there."""
        assert self._connection is not None
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
            return True
        except Exception:
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
            self._connection = None
            return False

    async def step_down(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY}
                )
            await self._connection.close()
            self._connection = None


async def tick(
    db: Database, settings: Settings, leader: Leader, now: datetime | None = None
) -> None:
    if not await leader.try_lead():
        return
    now = now or utcnow()
    try:
        report = await sweep(db, now, settings.timezone)
        digests = await queue_digests(db, now, settings.timezone)
        await purge_handled_updates(db, now)
    except Exception:
        logger.exception("scheduler sweep failed; the next tick tries again")
        return
    await _recount_when_due(db, leader, now)
    if digests:
        logger.info("digests queued: %s", digests)
    if report.launched or report.reminded or report.closed:
        logger.info(
            "sweep: launched %s, reminded %s, closed %s",
            report.launched,
            report.reminded,
            report.closed,
        )


async def _recount_when_due(db: Database, leader: Leader, now: datetime) -> None:
    """The tally summary's exact recount, at most once per RECOUNT_EVERY; drift is logged by
    the recount itself, line by line."""
    if leader.recounted_at is not None and now - leader.recounted_at < RECOUNT_EVERY:
        return
    leader.recounted_at = now
    try:
        report = await recount_summary(db)
    except Exception:
        logger.exception("tally recount failed; the next due tick tries again")
        return
    if report.drifted:
        logger.warning("tally summary: %s lines drifted and were repaired", len(report.lines))


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
