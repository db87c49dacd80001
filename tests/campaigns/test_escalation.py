"""Time limits of organization tasks: an organization that does nothing is reminded, its parent
organization told, and (when the campaign says so) it is passed on to all its members, each
once even when sweeps race; one that acted is left alone; "remind now" on the status page."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from coordinator.auth.models import AuditEvent
from coordinator.campaigns import cascade_service, escalation, sweeps
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign, OrganizationTask
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Forbidden, NotFound
from coordinator.tallies.summary import recount_summary
from tests.campaigns.test_cascade import _task
from tests.factories import actor_of, build_world, focal_point_id

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LAUNCH = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 local
DEADLINE = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


async def _launched(db: Database, **settings):
    """District (focal point 7_000_002, parent: the province with 7_000_001) and district2
    (focal point 7_000_004) each get a task at LAUNCH."""
    world = await build_world(db)
    focal = {
        "p": await focal_point_id(world, "p", "province", 7_000_001),
        "d": await focal_point_id(world, "d", "district", 7_000_002),
        "b": await focal_point_id(world, "b", "district2", 7_000_004),
    }
    cid = await world.campaign(
        targets=("district", "district2"), mode="org", launch_at=LAUNCH, deadline_at=DEADLINE
    )
    async with db.write() as session:
        if settings:
            await session.execute(
                update(Campaign).where(col(Campaign.id) == cid).values(**settings)
            )
    await campaigns.launch_campaign(db, world.actor["coordinator"], cid, LAUNCH)
    return world, cid, focal


async def _keys(db: Database, prefix: str) -> list[tuple[str, int]]:
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.chat_id)
            .where(col(OutboxMessage.dedupe_key).like(f"{prefix}%"))
            .order_by(col(OutboxMessage.dedupe_key))
        )
        return [tuple(r) for r in rows.all()]


async def _audits(db: Database, action: str) -> list[int | None]:
    async with db.read() as session:
        found = await session.scalars(
            select(AuditEvent.object_id).where(AuditEvent.action == action)
        )
        return list(found)


async def _racing(db: Database, other: Database, at: datetime) -> dict[int, str]:
    """Three sweeps at once, one of them through a second engine (another process's pool)."""
    reports = await asyncio.gather(
        sweeps.sweep(db, at, TZ), sweeps.sweep(other, at, TZ), sweeps.sweep(db, at, TZ)
    )
    steps: dict[int, str] = {}
    for report in reports:
        assert not set(report.org_steps) & set(steps), "a step was taken twice"
        steps.update(report.org_steps)
    return steps


async def test_a_silent_organization_is_reminded_escalated_and_passed_on_once(db):
    world, cid, focal = await _launched(
        db, org_auto_pass_on_after_hours=4, remind_in_quiet_hours=True
    )
    district, district2 = await _task(world, cid, "district"), await _task(world, cid, "district2")
    # District B's focal point acts: it is never reminded.
    b = await actor_of(world, focal["b"])
    await cascade_service.act(db, b, district2.id, "received", now=LAUNCH + timedelta(hours=1))
    other = Database(db.url)
    try:
        assert await _racing(db, other, LAUNCH + timedelta(hours=5, minutes=59)) == {}
        at_6h = LAUNCH + timedelta(hours=6)
        assert await _racing(db, other, at_6h) == {district.id: "remind"}
        assert await _racing(db, other, at_6h + timedelta(minutes=1)) == {}
        reminders = await _keys(db, "orgremind:")
        assert reminders == [(f"orgremind:{district.id}:auto:{focal['d']}", 7_000_002)]
        # The escalation comes 12 h after the reminder, to the province's focal point.
        assert await _racing(db, other, at_6h + timedelta(hours=11, minutes=59)) == {}
        at_18h = at_6h + timedelta(hours=12)
        assert await _racing(db, other, at_18h) == {district.id: "escalate"}
        escalations = await _keys(db, "orgescalate:")
        assert [chat for _, chat in escalations] == [7_000_001]
        # 4 h later, as the campaign asks: passed on to all its members, as the press does.
        assert await _racing(db, other, at_18h + timedelta(hours=4)) == {
            district.id: "auto_pass_on"
        }
        for later in (5, 30):
            assert await _racing(db, other, at_18h + timedelta(hours=later)) == {}
    finally:
        await other.dispose()
    async with db.read() as session:
        members = sorted(
            (
                await session.scalars(
                    select(Assignment.member_id).where(Assignment.campaign_id == cid)
                )
            ).all()
        )
        task = await session.get(OrganizationTask, district.id)
        quiet = await session.get(OrganizationTask, district2.id)
    assert members == sorted([world.member["d1"], world.member["d2"], world.member["d3"]])
    assert task is not None and quiet is not None
    assert task.reminded_at == at_6h and task.escalated_at == at_18h
    assert task.auto_passed_on_at == at_18h + timedelta(hours=4)
    assert task.status == "passed_on" and task.passed_on_how == ["members"]
    assert task.acted_by_user_id is None  # nobody pressed: the scheduler did
    assert (quiet.reminded_at, quiet.escalated_at, quiet.auto_passed_on_at) == (None,) * 3
    for step in ("remind", "escalate", "auto_pass_on"):
        assert await _audits(db, f"organization_task.{step}") == [district.id]
    assert not (await recount_summary(db)).drifted


async def test_by_default_it_reminds_and_escalates_but_never_passes_on_alone(db):
    world, cid, _ = await _launched(db)
    async with db.read() as session:
        campaign = await session.get(Campaign, cid)
    assert campaign is not None
    assert (campaign.org_remind_after_hours, campaign.org_escalate_after_hours) == (6, 12)
    assert campaign.org_auto_pass_on_after_hours is None
    district = await _task(world, cid, "district")
    # 6 h after a 09:00 launch is 15:00 local; 12 h later is 03:00: held until 07:00.
    assert (await sweeps.sweep(db, LAUNCH + timedelta(hours=6), TZ)).org_steps[district.id]
    assert (await sweeps.sweep(db, LAUNCH + timedelta(hours=18), TZ)).org_steps == {}
    morning = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)  # 07:05 local
    steps = (await sweeps.sweep(db, morning, TZ)).org_steps
    assert steps == {district.id: "escalate", (await _task(world, cid, "district2")).id: "escalate"}
    assert (await sweeps.sweep(db, morning + timedelta(days=3), TZ)).org_steps == {}
    async with db.read() as session:
        n = await session.scalar(select(func.count()).select_from(Assignment))
    assert n == 0


async def test_a_closed_campaign_takes_no_step(db):
    world, cid, _ = await _launched(db)
    await campaigns.close_campaign(db, world.actor["coordinator"], cid, LAUNCH + timedelta(hours=1))
    assert (await sweeps.sweep(db, LAUNCH + timedelta(hours=7), TZ)).org_steps == {}


async def test_remind_now_queues_once_per_window_and_only_for_those_who_run_it(db):
    world, cid, _ = await _launched(db)
    task = await _task(world, cid, "district")
    coordinator = world.actor["coordinator"]
    now = LAUNCH + timedelta(hours=1)
    assert await escalation.remind_now(db, coordinator, task.id, now) == (cid, 1)
    assert await escalation.remind_now(db, coordinator, task.id, now + timedelta(minutes=5)) == (
        cid,
        0,
    )
    later = now + timedelta(seconds=escalation.MANUAL_WINDOW)
    assert (await escalation.remind_now(db, coordinator, task.id, later))[1] == 1
    for who in ("lead", "leadership", "outsider_lead"):
        with pytest.raises(Forbidden):
            await escalation.remind_now(db, world.actor[who], task.id, now)
    with pytest.raises(NotFound):  # another agreement's coordinator does not see the campaign
        await escalation.remind_now(db, world.actor["outsider_coordinator"], task.id, now)
    assert len(await _keys(db, f"orgremind:{task.id}:manual-")) == 2
    assert len(await _audits(db, "organization_task.remind")) == 2


async def test_the_remind_button_on_the_web(db):
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    world, cid, focal = await _launched(db)
    task = await _task(world, cid, "district")
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "lead")
        token = client.cookies["coordinator_csrf"]
        refused = await client.post(
            f"/organization-tasks/{task.id}/remind", data={"_csrf_token": token}
        )
        assert refused.status_code == 403
        await sign_in(client, "coordinator")
        no_csrf = await client.post(f"/organization-tasks/{task.id}/remind", data={})
        assert no_csrf.status_code == 403
        for answer in ("1 đầu mối", "vừa được gửi"):
            token = client.cookies["coordinator_csrf"]
            pressed = await client.post(
                f"/organization-tasks/{task.id}/remind", data={"_csrf_token": token}
            )
            assert pressed.status_code == 200 and answer in pressed.text, pressed.text[-2000:]
        status = await client.get(f"/campaigns/{cid}")
        assert 'id="time-limits"' in status.text and "6 giờ" in status.text
        # The status page's cascade tree offers it on the row of each organization not acting.
        assert f'action="/organization-tasks/{task.id}/remind"' in status.text
        button = app.template_engine.get_template("campaigns/_remind_button.html")
        html = button.render(
            task=task,
            campaign=await _campaign(db, cid),
            can=type("Can", (), {"reminds_organizations": True})(),
            csrf_input="",
            _=lambda text, **kw: text,
        )
        assert f'action="/organization-tasks/{task.id}/remind"' in html
        # Once the organization passed it on, a press says so on the campaign's page.
        focal_d = await actor_of(world, focal["d"])
        await cascade_service.act(db, focal_d, task.id, "members")
        token = client.cookies["coordinator_csrf"]
        late = await client.post(
            f"/organization-tasks/{task.id}/remind", data={"_csrf_token": token}
        )
        assert late.status_code == 200 and "Đơn vị này đã xử lý nhiệm vụ rồi." in late.text
        assert late.url.path == f"/campaigns/{cid}"
    assert len(await _keys(db, f"orgremind:{task.id}:manual-")) == 1


async def _campaign(db: Database, cid: int) -> Campaign:
    async with db.read() as session:
        campaign = await session.get(Campaign, cid)
        assert campaign is not None
        return campaign


async def test_more_than_one_organization_defaults_to_delivery_through_organizations(world):
    chosen = {}
    for key, targets, mode in [
        ("two", ("district", "district2"), None),
        ("one", ("district",), None),
        ("explicit", ("district", "district2"), "dm"),
    ]:
        cid = await world.campaign(targets=targets, mode=mode)
        async with world.db.read() as session:
            chosen[key] = (await session.get(Campaign, cid)).delivery_mode
    assert chosen == {"two": "org", "one": "dm", "explicit": "dm"}


async def test_racing_claims_of_one_step_leave_one_winner(db):
    world, cid, _ = await _launched(db, org_auto_pass_on_after_hours=1)
    task_id = (await _task(world, cid, "district")).id
    other = Database(db.url)
    at = LAUNCH + timedelta(hours=6)
    try:
        for step, when in (
            ("remind", at),
            ("escalate", at + timedelta(hours=12)),
            ("auto_pass_on", at + timedelta(hours=13)),
        ):
            taken = await asyncio.gather(
                *(escalation.take_steps(d, step, [task_id], when) for d in (db, other, db, other))
            )
            assert sorted(taken) == [[], [], [], [task_id]], (step, taken)
    finally:
        await other.dispose()
    async with db.read() as session:
        n = await session.scalar(select(func.count()).where(Assignment.campaign_id == cid))
    assert n == 3  # d1, d2 and d3, once
    assert len(await _keys(db, "orgescalate:")) == 1
    assert len(await _keys(db, "orgremind:")) == 1
