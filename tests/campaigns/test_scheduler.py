"""The scheduler's sweeps, with time driven explicitly: launches, reminders (quiet hours, once per
member per step, even across a crash), closing at the deadline, and one leader on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update
from sqlmodel import col, func, select

from coordinator.campaigns import reminders, sweeps
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Conflict
from coordinator.scheduler import Leader
from tests.conftest import BACKEND
from tests.factories import build_world

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LAUNCH = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 local
DEADLINE = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)  # 19:00 local


async def _active(db: Database, deadline: datetime = DEADLINE, **kwargs) -> tuple[object, int]:
    world = await build_world(db)
    campaign_id = await world.campaign(launch_at=LAUNCH, deadline_at=deadline, **kwargs)
    await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id, LAUNCH)
    async with db.write() as session:  # what the sender does once Telegram took the messages
        await session.execute(
            update(Assignment)
            .where(col(Assignment.campaign_id) == campaign_id)
            .values(status="delivered", delivered_at=LAUNCH)
        )
    return world, campaign_id


async def _reminders(db: Database) -> list[str]:
    async with db.read() as session:
        keys = await session.scalars(
            select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).like("reminder:%"))
        )
        return sorted(keys.all())


async def test_a_scheduled_campaign_launches_once_when_its_time_comes(db):
    world = await build_world(db)
    campaign_id = await world.campaign(launch_at=LAUNCH, deadline_at=DEADLINE)
    await campaigns.schedule_campaign(
        db, world.actor["coordinator"], campaign_id, LAUNCH - timedelta(days=1)
    )
    early = await sweeps.sweep(db, LAUNCH - timedelta(minutes=1), TZ)
    assert early.launched == []
    first = await sweeps.sweep(db, LAUNCH + timedelta(seconds=30), TZ)
    again = await sweeps.sweep(db, LAUNCH + timedelta(seconds=60), TZ)
    assert first.launched == [campaign_id] and again.launched == []
    async with db.read() as session:
        assigned = await session.scalar(
            select(func.count()).where(Assignment.campaign_id == campaign_id)
        )
        outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert assigned == 4 and outbox == 4  # the linked members of the province, once each


async def test_reminders_go_once_per_member_per_step_and_only_to_those_not_done(db):
    world, campaign_id = await _active(db)
    async with db.read() as session:
        first = await session.scalar(
            select(Assignment).where(Assignment.campaign_id == campaign_id).limit(1)
        )
    assert first is not None and first.member_id is not None
    await record_report(
        db,
        ReportRequest(assignment_id=first.id, member_id=first.member_id, action="done"),
        now=LAUNCH + timedelta(hours=1),
    )
    assert (await sweeps.sweep(db, DEADLINE - timedelta(hours=25), TZ)).reminded == {}
    at_24h = await sweeps.sweep(db, DEADLINE - timedelta(hours=23, minutes=59), TZ)
    assert at_24h.reminded == {campaign_id: 3}  # four assigned, one done
    assert (await sweeps.sweep(db, DEADLINE - timedelta(hours=23), TZ)).reminded == {}
    at_2h = await sweeps.sweep(db, DEADLINE - timedelta(hours=1, minutes=50), TZ)
    assert at_2h.reminded == {campaign_id: 3}
    keys = await _reminders(db)
    assert len(keys) == 6 == len(set(keys))
    assert not any(key.endswith(f":{first.id}") for key in keys)
    del world


async def test_quiet_hours_hold_reminders_until_seven_unless_the_campaign_allows(db):
    late = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)  # midnight local
    _, campaign_id = await _active(db, deadline=late)
    # The 24 h step falls at 00:00 local: held through the night, sent at 07:00.
    assert (await sweeps.sweep(db, late - timedelta(hours=23), TZ)).reminded == {}
    morning = datetime(2026, 12, 10, 0, 5, tzinfo=UTC)  # 07:05 local
    assert (await sweeps.sweep(db, morning, TZ)).reminded == {campaign_id: 4}
    # The 2 h step falls at 22:00 local and the deadline comes before 07:00: never sent.
    assert (await sweeps.sweep(db, late - timedelta(hours=1), TZ)).reminded == {}
    async with db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.remind_in_quiet_hours = True
    assert (await sweeps.sweep(db, late - timedelta(hours=1), TZ)).reminded == {campaign_id: 4}


async def test_a_crash_in_the_middle_of_a_sweep_sends_nothing_twice(db, monkeypatch):
    world, _ = await _active(db)
    second = await world.campaign(launch_at=LAUNCH, deadline_at=DEADLINE)  # type: ignore[attr-defined]
    await campaigns.launch_campaign(db, world.actor["coordinator"], second, LAUNCH)  # type: ignore[attr-defined]
    async with db.write() as session:
        await session.execute(update(Assignment).values(status="delivered"))
    real = reminders.remind_not_done
    calls = []

    async def dies_on_the_second_campaign(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise RuntimeError("the process was killed here")
        return await real(*args, **kwargs)

    monkeypatch.setattr(reminders, "remind_not_done", dies_on_the_second_campaign)
    now = DEADLINE - timedelta(hours=22)  # 21:00 local, before the quiet hours
    with pytest.raises(RuntimeError):
        await sweeps.sweep(db, now, TZ)
    monkeypatch.setattr(reminders, "remind_not_done", real)
    restarted = await sweeps.sweep(db, now, TZ)
    assert restarted.reminded == {second: 4}  # the first campaign's were sent already
    keys = await _reminders(db)
    assert len(keys) == 8 == len(set(keys))


async def test_at_the_deadline_the_campaign_closes_and_done_is_refused(db):
    _, campaign_id = await _active(db)
    report = await sweeps.sweep(db, DEADLINE + timedelta(seconds=1), TZ)
    assert report.closed == [campaign_id]
    async with db.read() as session:
        statuses = set(
            (
                await session.scalars(
                    select(Assignment.status).where(Assignment.campaign_id == campaign_id)
                )
            ).all()
        )
        task = await session.scalar(select(Assignment).where(Assignment.campaign_id == campaign_id))
    assert statuses == {"expired"}
    assert task is not None and task.member_id is not None
    with pytest.raises(Conflict):
        await record_report(
            db, ReportRequest(assignment_id=task.id, member_id=task.member_id, action="done")
        )
    assert (await sweeps.sweep(db, DEADLINE + timedelta(minutes=1), TZ)).closed == []


@pytest.mark.skipif(BACKEND != "postgres", reason="the advisory-lock leader is PostgreSQL's")
async def test_two_workers_on_postgresql_elect_one_leader(db):
    other = Database(db.url)
    one, two = Leader(db), Leader(other)
    try:
        assert await one.try_lead() is True
        assert await two.try_lead() is False
        assert await one.try_lead() is True  # still leading
        await one.step_down()
        assert await two.try_lead() is True
        assert await one.try_lead() is False
        # The leader's connection dies (server restart, network): the lock goes with it, the
        # old leader notices on its next tick, and one of them leads again.
        async with db.write() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert await two.try_lead() is True  # reconnects and takes the free lock again
        assert await one.try_lead() is False
    finally:
        await one.step_down()
        await two.step_down()
        await other.dispose()


def test_quiet_hours_are_local_time():
    assert sweeps.in_quiet_hours(datetime(2026, 12, 1, 15, 0, tzinfo=UTC), TZ)  # 22:00
    assert sweeps.in_quiet_hours(datetime(2026, 12, 1, 23, 59, tzinfo=UTC), TZ)  # 06:59
    assert not sweeps.in_quiet_hours(datetime(2026, 12, 2, 0, 0, tzinfo=UTC), TZ)  # 07:00
