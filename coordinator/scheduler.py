"""The campaign sweeps, every 30 s, once per deployment, as a supervised loop.

On PostgreSQL several processes may run `serve` or `worker`; a session-level advisory lock
elects one leader (`coordinator/leader.py`), and only the leader sweeps. Followers try again
every tick, so if the leader dies (its connection closes, the lock goes) another takes over
within a tick. On SQLite there is one process by design (a lock file keeps a second one out).
Either way the sweeps are idempotent, so a duplicate tick is harmless: the lock keeps the work
from being done twice, not correctness.

A tick that fails is logged with its traceback by the supervisor, and the loop starts again
after a capped backoff; each good tick (leading or following) is the loop's heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from coordinator import leader as leadership
from coordinator import metrics
from coordinator.base import utcnow
from coordinator.bots.retention import purge_handled_updates
from coordinator.campaigns.sweeps import sweep
from coordinator.db import Database
from coordinator.settings import Settings
from coordinator.supervisor import Beat, Supervisor, recording
from coordinator.tallies.digests import queue_digests
from coordinator.tallies.summary import recount_summary

logger = logging.getLogger("coordinator.scheduler")
LOCK_KEY = 0x636F6F7264  # "coord": the advisory lock every Coordinator process asks for
TICK_SECONDS = 30
RECOUNT_EVERY = timedelta(hours=1)  # the exact tally recount: a full scan, so not every tick


class Leader(leadership.Leader):
    """The scheduler's lock."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, LOCK_KEY, "scheduler")
        self.recounted_at: datetime | None = None  # this process's last tally recount


async def tick(
    db: Database, settings: Settings, leader: Leader, now: datetime | None = None
) -> None:
    """One sweep if this process leads; raises what went wrong (the supervisor logs it)."""
    if not await leader.try_lead():
        return
    now = now or utcnow()
    with metrics.sweeping("campaigns"):
        report = await sweep(db, now, settings.timezone)
    with metrics.sweeping("digests"):
        digests = await queue_digests(db, now, settings.timezone)
    with metrics.sweeping("purge_updates"):
        await purge_handled_updates(db, now)
    await _recount_when_due(db, leader, now)
    if digests:
        logger.info("digests queued: %s", digests)
    if report.launched or report.reminded or report.closed or report.org_steps or report.released:
        logger.info(
            "sweep: launched %s, reminded %s, organization steps %s, closed %s, "
            "held tasks released %s",
            report.launched,
            report.reminded,
            dict(Counter(report.org_steps.values())),  # per step: a tick may take 1,000
            report.closed,
            report.released,
        )


async def ticking(
    db: Database, settings: Settings, leader: Leader, stop: asyncio.Event, beat: Beat
) -> None:
    """Tick now and then every TICK_SECONDS until `stop`."""
    while not stop.is_set():
        await tick(db, settings, leader)
        beat.ok()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_SECONDS)


async def _recount_when_due(db: Database, leader: Leader, now: datetime) -> None:
    """The tally summary's exact recount, at most once per RECOUNT_EVERY; drift is logged by
    the recount itself, line by line."""
    if leader.recounted_at is not None and now - leader.recounted_at < RECOUNT_EVERY:
        return
    leader.recounted_at = now
    try:
        with metrics.sweeping("tally_recount"):
            report = await recount_summary(db)
        metrics.recounted(len(report.lines))
    except Exception:
        logger.exception("tally recount failed; the next due tick tries again")
        return
    if report.drifted:
        logger.warning("tally summary: %s lines drifted and were repaired", len(report.lines))


@contextlib.asynccontextmanager
async def running(
    db: Database, settings: Settings, supervisor: Supervisor | None = None
) -> AsyncIterator[None]:
    """The scheduler until the block ends; its first tick runs at once."""
    leader = Leader(db)
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        if supervisor is None:
            supervisor = await stack.enter_async_context(recording(db))
        task = supervisor.start(
            "scheduler", lambda beat: ticking(db, settings, leader, stop, beat), stop
        )
        try:
            yield
        finally:
            stop.set()
            task.cancel()  # a sweep in flight is its own transactions: cutting it loses nothing
            await asyncio.gather(task, return_exceptions=True)
            await leader.step_down()
