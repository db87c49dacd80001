"""A first launch written in parts (PostgreSQL), killed with SIGKILL after its parts
committed and before the campaign turned active: the campaign stays as it was with its tasks
inert, and the next worker's launch makes it active and every volunteer gets one card.

The kill is placed, not timed: the test holds a SHARE lock on `outbox_message`, which the
launch's last transaction needs for its first cards, and kills the worker once the parts'
tasks are all committed and that transaction waits for the lock.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.db import Database
from coordinator.delivery.models import CardBacklog
from coordinator.tallies.summary import recount_summary
from tests.conftest import BACKEND
from tests.dbtools import _dsn
from tests.faults.crowd import build_crowd, delivery, received, settled, summary
from tests.faults.harness import Processes, Sandbox, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(BACKEND != "postgres", reason="launches are written in parts on PostgreSQL"),
]

VOLUNTEERS = 400
ORGS = ("province", "district", "district2", "commune")  # four parts
SPLIT = {"COORDINATOR_LAUNCH_SPLIT_FROM": "1", "COORDINATOR_SEND_RATE": "100"}


async def _tasks(db: Database, campaign_id: int) -> int:
    async with db.read() as session:
        query = select(func.count()).where(col(Assignment.campaign_id) == campaign_id)
        return int(await session.scalar(query) or 0)


async def _waiting_backends(conn: asyncpg.Connection) -> list[int]:
    """Backends waiting to insert task cards (not, say, a sender waiting to lease)."""
    rows = await conn.fetch(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
        " WHERE NOT l.granted AND l.relation = 'outbox_message'::regclass"
        " AND a.query LIKE 'INSERT INTO outbox_message%'"
    )
    return [int(r["pid"]) for r in rows]


async def _gone(conn: asyncpg.Connection, pids: list[int]) -> bool:
    alive = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
    )
    return alive == 0


async def _inert(db: Database, campaign_id: int) -> tuple[str, int, int, int]:
    """(campaign status, tasks, its outbox rows, card backlogs)."""
    state = await delivery(db, campaign_id)
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        backlogs = await session.scalar(select(func.count()).select_from(CardBacklog))
    return (
        campaign.status,
        sum(state.tasks.values()),
        sum(state.outbox.values()),
        int(backlogs or 0),
    )


async def test_a_launch_killed_between_its_parts_and_activation_is_finished_by_the_next(
    db: Database, processes: Processes, sandbox: Sandbox
) -> None:
    crowd = await build_crowd(db, sandbox, VOLUNTEERS, ORGS)
    coordinator = crowd.world.actor["coordinator"]
    await campaigns.schedule_campaign(db, coordinator, crowd.campaign_id)  # due now

    holder = await asyncpg.connect(_dsn(db.url))
    try:
        blocker = holder.transaction()
        await blocker.start()
        await holder.execute("LOCK TABLE outbox_message IN SHARE MODE")
        first = processes.worker(sandbox.api_url, **SPLIT)
        await wait_for(
            lambda: _tasks_are(db, crowd.campaign_id, VOLUNTEERS),
            within=60,
            what=f"the launch's parts commit {VOLUNTEERS} tasks",
        )
        waiting = await wait_for(
            lambda: _waiting_backends(holder),
            within=30,
            what="the launch's last transaction waits for its first cards",
        )
        first.kill()
        await blocker.rollback()
        await wait_for(lambda: _gone(holder, waiting), within=30, what="the killed launch ends")
    finally:
        await holder.close()

    status, tasks, outbox, backlogs = await _inert(db, crowd.campaign_id)
    assert (status, tasks, outbox, backlogs) == ("scheduled", VOLUNTEERS, 0, 0), (
        "the parts' tasks stay, inert: the campaign is not active and nothing is queued"
    )
    assert not (await recount_summary(db)).drifted

    processes.worker(sandbox.api_url, **SPLIT)
    state = await wait_for(
        lambda: settled(db, crowd.campaign_id),
        within=90,
        what="the next worker launches the campaign and delivers every task",
        every=0.5,
    )
    seen = await received(sandbox, list(state.chats))
    assert len(state.chats) == VOLUNTEERS, summary(state, seen)
    assert not seen.lost and not seen.duplicates, summary(state, seen)
    status, *_ = await _inert(db, crowd.campaign_id)
    assert status == "active"
    assert not (await recount_summary(db)).drifted


async def _tasks_are(db: Database, campaign_id: int, count: int) -> bool:
    return await _tasks(db, campaign_id) == count
