"""The same pass-on pressed concurrently gives one set of assignments, and a pass-on racing the
campaign's close leaves nothing open: each press in a session (an engine) of its own, and on
PostgreSQL the sessions made to wait on one another for real before they go on."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import insert, text
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, OrganizationTask
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from tests.campaigns.machinery import add_cascade_world, expected_recipients
from tests.conftest import BACKEND


async def _waiting_on_locks(db: Database) -> int:
    async with db.read() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def test_the_same_pass_on_pressed_concurrently_gives_one_set(world):
    """Two focal points press the same choices at once, each press in its own session (its
    own engine); on PostgreSQL all of them are made to wait on the task together first."""
    await add_cascade_world(world)
    cid = await world.campaign(targets=("district",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task_id = await session.scalar(
            select(OrganizationTask.id).where(OrganizationTask.campaign_id == cid)
        )
    assert task_id is not None
    choices = ["members", "clubs", "groups"] * 3
    engines = [Database(world.db.url) for _ in choices]
    presses = [
        cascade_service.act(db, world.actor["fda" if n % 2 else "fdb"], task_id, choice)
        for n, (db, choice) in enumerate(zip(engines, choices, strict=True))
    ]
    try:
        if BACKEND == "postgres":
            async with world.db.write() as session:  # hold the task: every press queues behind
                await session.get(OrganizationTask, task_id, with_for_update=True)
                running = [asyncio.ensure_future(p) for p in presses]
                deadline = asyncio.get_running_loop().time() + 20
                while await _waiting_on_locks(world.db) < len(presses):
                    assert asyncio.get_running_loop().time() < deadline, "presses never queued"
                    await asyncio.sleep(0.02)
            outcomes = await asyncio.gather(*running)
        else:
            outcomes = await asyncio.gather(*presses)
    finally:
        for db in engines:
            await db.dispose()
    changed = Counter(choice for choice, o in zip(choices, outcomes, strict=True) if o.changed)
    assert changed == {"members": 1, "clubs": 1, "groups": 1}, "each choice applied once"
    async with world.db.read() as session:
        rows = (
            await session.execute(
                select(Assignment.member_id, Assignment.group_chat_id).where(
                    Assignment.campaign_id == cid
                )
            )
        ).all()
        task = await session.get(OrganizationTask, task_id)
    m = world.member
    assert sorted(r.member_id for r in rows if r.member_id) == sorted([m["d1"], m["d2"], m["d3"]])
    assert len([r for r in rows if r.group_chat_id]) == 2  # the district's and its club's
    assert task is not None and task.passed_on_how == ["members", "clubs", "groups"]
    assert set(await expected_recipients(world.db)) == {
        (cid, r.member_id, r.group_chat_id) for r in rows
    }


async def _until(check, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite's single writer runs them one by one")
async def test_a_pass_on_racing_the_close_leaves_nothing_open(world):
    """A pass-on still writing when the campaign closes: its assignments must end expired and
    their cards withdrawn, not queued to volunteers of a closed campaign. An uncommitted
    assignment of one of the members holds the pass-on mid-way while the close runs."""
    await add_cascade_world(world)
    cid = await world.campaign(targets=("district",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task_id = await session.scalar(
            select(OrganizationTask.id).where(OrganizationTask.campaign_id == cid)
        )
    engines = [Database(world.db.url) for _ in range(2)]
    try:
        async with world.db.engine.connect() as conn:
            held = await conn.begin()
            await conn.execute(
                insert(Assignment).values(
                    campaign_id=cid,
                    member_id=world.member["d1"],
                    status="pending",
                    created_at=utcnow(),
                )
            )
            passing = asyncio.ensure_future(
                cascade_service.act(engines[0], world.actor["fda"], task_id or 0, "members")
            )
            await _until(lambda: _waits(world.db, 1))
            closing = asyncio.ensure_future(
                campaigns.close_campaign(engines[1], world.actor["coordinator"], cid)
            )
            await _until(lambda: _closed_or_waiting(closing, world.db))
            await held.rollback()
        results = await asyncio.gather(passing, closing, return_exceptions=True)
    finally:
        for db in engines:
            await db.dispose()
    assert not any(isinstance(r, BaseException) for r in results), results
    async with world.db.read() as session:
        statuses = Counter(
            await session.scalars(select(Assignment.status).where(Assignment.campaign_id == cid))
        )
        cards = Counter(
            await session.scalars(
                select(OutboxMessage.status)
                .join(Assignment, col(Assignment.id) == OutboxMessage.assignment_id)
                .where(Assignment.campaign_id == cid)
            )
        )
    assert set(statuses) <= {"expired"}, statuses
    assert set(cards) <= {"cancelled"}, cards


async def _waits(db: Database, n: int) -> bool:
    return await _waiting_on_locks(db) >= n


async def _closed_or_waiting(closing: asyncio.Future, db: Database) -> bool:
    return closing.done() or await _waiting_on_locks(db) >= 2
