"""Campaigns delivered through organizations: tasks per organization, passed on down the tree,
each choice once whoever presses, and the tallies equal to a recount."""

from __future__ import annotations

import asyncio

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.campaigns import cascade, cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign, OrganizationTask
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import GroupChat
from coordinator.tallies.summary import recount_summary
from tests.factories import add_focal_point


async def _task(world, cid: int, org: str) -> OrganizationTask:
    async with world.db.read() as session:
        return await session.scalar(
            select(OrganizationTask).where(
                OrganizationTask.campaign_id == cid,
                OrganizationTask.organization_id == world.org[org],
            )
        )


async def _assignments(world, cid: int) -> list[tuple[int | None, int | None]]:
    async with world.db.read() as session:
        rows = await session.execute(
            select(Assignment.member_id, Assignment.group_chat_id)
            .where(Assignment.campaign_id == cid)
            .order_by(col(Assignment.id))
        )
        return [tuple(r) for r in rows.all()]


async def test_a_three_level_cascade_passes_on_differently_and_once(world):
    province = await add_focal_point(world, "p", "province", 7_000_001)
    district = await add_focal_point(world, "d", "district", 7_000_002)
    commune = await add_focal_point(world, "c", "commune", 7_000_003)
    async with world.db.write() as session:
        session.add(
            GroupChat(telegram_chat_id=-5001, title="Xã A1", organization_id=world.org["commune"])
        )
    cid = await world.campaign(targets=("province",), mode="org")
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert result.created == 1  # the province's task; nobody was assigned directly
    assert await _assignments(world, cid) == []
    async with world.db.read() as session:
        cards = (
            await session.scalars(
                select(OutboxMessage).where(col(OutboxMessage.dedupe_key).like("orgtask:%"))
            )
        ).all()
        without = await cascade.without_focal_point(session, {world.org["district2"]})
    assert [c.chat_id for c in cards] == [7_000_001]
    assert "markup" in cards[0].payload and "Cảnh giác" in cards[0].payload["text"]
    assert [o.id for o in without] == [world.org["district2"]]

    ptask = await _task(world, cid, "province")
    await cascade_service.act(world.db, province, ptask.id, "received")
    out = await cascade_service.act(world.db, province, ptask.id, "suborgs")
    assert out.changed and out.created == 2  # both districts
    dtask = await _task(world, cid, "district")
    assert dtask.parent_task_id == ptask.id
    await cascade_service.act(world.db, district, dtask.id, "clubs")
    first = await _assignments(world, cid)
    assert sorted(m for m, _ in first) == sorted([world.member["d1"], world.member["d3"]])
    # Duplicate and concurrent presses of the same choice change nothing.
    again = await asyncio.gather(
        *(cascade_service.act(world.db, district, dtask.id, "clubs") for _ in range(4))
    )
    assert not any(o.changed for o in again)
    assert await _assignments(world, cid) == first
    await cascade_service.act(world.db, district, dtask.id, "suborgs")
    ctask = await _task(world, cid, "commune")
    assert ctask is not None and ctask.parent_task_id == dtask.id
    await asyncio.gather(
        *(cascade_service.act(world.db, commune, ctask.id, "members") for _ in range(3)),
        *(cascade_service.act(world.db, commune, ctask.id, "groups") for _ in range(3)),
    )
    rows = await _assignments(world, cid)
    members = sorted(m for m, _ in rows if m)
    assert members == sorted([world.member["d1"], world.member["d3"], world.member["c1"]])
    assert len([g for _, g in rows if g]) == 1
    ctask = await _task(world, cid, "commune")
    assert ctask.status == "passed_on" and ctask.passed_on_how == ["members", "groups"]
    assert not (await recount_summary(world.db)).drifted


async def test_only_focal_points_act_and_cant_records_a_reason(world):
    district = await add_focal_point(world, "d", "district", 7_000_002)
    cid = await world.campaign(targets=("district", "district2"), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    task = await _task(world, cid, "district")
    try:
        await cascade_service.act(world.db, world.actor["lead"], task.id, "members")
        raise AssertionError("a lead who is not a focal point passed it on")
    except Exception as exc:
        assert getattr(exc, "code", "") == "not_focal"
    out = await cascade_service.act(world.db, district, task.id, "decline", "Đang bận")
    assert out.changed and out.task.decline_reason == "Đang bận"
    again = await cascade_service.act(world.db, district, task.id, "decline", "khác")
    assert not again.changed
    async with world.db.read() as session:
        n = await session.scalar(select(func.count()).select_from(Assignment))
        campaign = await session.get(Campaign, cid)
    assert n == 0 and campaign.delivery_mode == "org"


async def test_a_focal_point_passes_it_on_from_the_web_once(world):
    import os

    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    await add_focal_point(world, "d", "district", 7_000_002)
    cid = await world.campaign(targets=("district", "district2"), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    task = await _task(world, cid, "district")
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "focal-d")
        shown = await client.get(f"/campaigns/{cid}/handed")
        assert shown.status_code == 200, shown.text
        assert "Cảnh giác" in shown.text and f"/organization-tasks/{task.id}" in shown.text
        for _ in range(2):
            token = client.cookies["coordinator_csrf"]
            answer = await client.post(
                f"/organization-tasks/{task.id}", data={"step": "members", "_csrf_token": token}
            )
            assert answer.status_code == 200, answer.text
        await sign_in(client, "coordinator")
        launch = await client.get(f"/campaigns/{cid}/launch")
        unserved = launch.text.split('id="unserved"', 1)[1].split("</p>", 1)[0]
        assert "Huyện đoàn B" in unserved and "Huyện đoàn A" not in unserved
        agreements_page = await client.get("/agreements")  # the lead has no focal point
        assert "chưa có đầu mối liên kết" in agreements_page.text
    members = sorted(m for m, _ in await _assignments(world, cid))
    assert members == sorted([world.member["d1"], world.member["d2"], world.member["d3"]])
    assert (await _task(world, cid, "district")).passed_on_how == ["members"]
    assert not (await recount_summary(world.db)).drifted
