"""A big first launch written in parts (PostgreSQL): the same tasks and cards as one
transaction, nothing written when the launch is refused, an interrupted launch finished by the
next one, and two launches at once. The split is forced down to one member here
(`COORDINATOR_LAUNCH_SPLIT_FROM=1`); the 100,000-member launch in test_launch_plans takes it
at its default."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.campaigns import launch_parts
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.launch import campaign_targets, eligible_members, write_assignments
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.delivery.models import CardBacklog, OutboxMessage
from coordinator.errors import Invalid
from coordinator.organizations.models import Member
from coordinator.settings import get_settings
from coordinator.tallies.summary import recount_summary
from tests.conftest import BACKEND

on_postgres = pytest.mark.skipif(
    BACKEND != "postgres", reason="launches are written in parts on PostgreSQL only"
)
SIZES = {"province": 30, "district": 120, "district2": 80, "commune": 50}


@given(st.dictionaries(st.integers(1, 10_000), st.integers(1, 5_000), max_size=60))
def test_balanced_parts_hold_every_key_once_and_stay_near_the_mean(weights):
    parts = launch_parts.balanced(weights, 8)
    keys = [k for part in parts for k in part]
    assert sorted(keys) == sorted(weights)
    assert len(parts) == min(8, len(weights)) and all(parts)
    if weights:
        loads = [sum(weights[k] for k in part) for part in parts]
        assert max(loads) <= sum(loads) / len(parts) + max(weights.values())


@pytest.fixture
def split_always(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COORDINATOR_LAUNCH_SPLIT_FROM", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("COORDINATOR_LAUNCH_SPLIT_FROM")
    get_settings.cache_clear()


async def _volunteers(world, sizes: dict[str, int] = SIZES) -> None:
    start = 70_000_000
    async with world.db.write() as session:
        for key, count in sizes.items():
            await session.execute(
                text(
                    "INSERT INTO member (organization_id, display_name, telegram_user_id, locale,"
                    " created_at) SELECT :org, 'v' || n, :start + n, 'vi', now()"
                    " FROM generate_series(1, :count) AS n"
                ),
                {"org": world.org[key], "start": start, "count": count},
            )
            start += count


async def _assigned(db, campaign_id: int) -> list[int]:
    async with db.read() as session:
        return sorted(
            await session.scalars(
                select(Assignment.member_id).where(col(Assignment.campaign_id) == campaign_id)
            )
        )


async def _cards(db, campaign_id: int) -> tuple[int, int]:
    """(outbox rows of the campaign's tasks, card backlogs)."""
    async with db.read() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .join(Assignment, col(Assignment.id) == col(OutboxMessage.assignment_id))
            .where(col(Assignment.campaign_id) == campaign_id)
        )
        backlogs = await session.scalar(select(func.count()).select_from(CardBacklog))
    return int(rows or 0), int(backlogs or 0)


async def _one_transaction_choice(db, campaign_id: int) -> list[int]:
    """Whom one transaction would assign now, written and rolled back."""
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        await write_assignments(session, campaign, utcnow(), first=True)
        chosen = await session.scalars(
            select(Assignment.member_id).where(col(Assignment.campaign_id) == campaign_id)
        )
        members = sorted(chosen)
        await session.rollback()
    return members


@on_postgres
async def test_parts_assign_whom_one_transaction_would_with_a_share(world, split_always, caplog):
    await _volunteers(world)
    cid = await world.campaign(targets=("province",))
    async with world.db.write() as session:
        (await session.get(Campaign, cid)).ask_share_percent = 50
    expected = await _one_transaction_choice(world.db, cid)
    with caplog.at_level(logging.INFO, logger="coordinator.campaigns.launch_parts"):
        result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    parts = [r for r in caplog.records if "part" in r.getMessage()]
    assert len(parts) == 4, "one part per organization with members here"
    assert await _assigned(world.db, cid) == expected
    assert result.created == len(expected) and result.campaign.status == "active"
    assert await _cards(world.db, cid) == (len(expected), 0)
    assert not (await recount_summary(world.db)).drifted


@on_postgres
async def test_a_refused_launch_writes_no_part(world, split_always):
    await _volunteers(world)
    cid = await world.campaign(targets=("province",), items=0)
    with pytest.raises(Invalid):
        await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert await _assigned(world.db, cid) == []


@on_postgres
async def test_an_interrupted_launch_is_finished_without_what_the_campaign_dropped(
    world, split_always
):
    await _volunteers(world)
    cid = await world.campaign(targets=("province",))
    async with world.db.read() as session:
        campaign = await session.get(Campaign, cid)
        split = await launch_parts.plan(session, campaign, utcnow())
    assert split is not None
    # The parts commit, then the process dies before the last transaction.
    await launch_parts.write(world.db, cid, split, utcnow())
    async with world.db.read() as session:
        assert (await session.get(Campaign, cid)).status == "draft"
    assert len(await _assigned(world.db, cid)) == split.members
    assert await _cards(world.db, cid) == (0, 0)

    await campaigns.set_targets(
        world.db,
        world.actor["coordinator"],
        cid,
        organization_ids=[world.org["district2"]],
        club_ids=[],
    )
    async with world.db.read() as session:
        campaign = await session.get(Campaign, cid)
        orgs, clubs = await campaign_targets(session, cid)
        expected = sorted(
            await session.scalars(select(Member.id).where(*eligible_members(orgs, clubs)))
        )
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assigned = await _assigned(world.db, cid)
    assert assigned == expected and len(assigned) >= SIZES["district2"]
    assert result.campaign.status == "active"
    assert await _cards(world.db, cid) == (len(assigned), 0)
    assert not (await recount_summary(world.db)).drifted


@on_postgres
async def test_two_launches_at_once_leave_one_task_and_one_card_per_member(world, split_always):
    """(That they take turns is `Database.turns`' test in tests/core/test_database.py.)"""
    await _volunteers(world)
    cid = await world.campaign(targets=("province",))
    coordinator = world.actor["coordinator"]
    first, second = await asyncio.gather(
        campaigns.launch_campaign(world.db, coordinator, cid),
        campaigns.launch_campaign(world.db, coordinator, cid),
    )
    assigned = await _assigned(world.db, cid)
    assert sorted((first.created, second.created)) == [0, len(assigned)]
    assert len(set(assigned)) == len(assigned) == sum(SIZES.values()) + 4
    assert await _cards(world.db, cid) == (len(assigned), 0)


@on_postgres
async def test_parts_after_a_cancel_write_nothing(world, split_always):
    await _volunteers(world)
    cid = await world.campaign(targets=("province",))
    async with world.db.read() as session:
        split = await launch_parts.plan(session, await session.get(Campaign, cid), utcnow())
    assert split is not None
    await campaigns.cancel_campaign(world.db, world.actor["coordinator"], cid)
    assert await launch_parts.write(world.db, cid, split, utcnow()) == 0
    assert await _assigned(world.db, cid) == []
