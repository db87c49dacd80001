"""Approval under the agreement: a party's draft waits for the lead organization."""

import pytest
from sqlmodel import select

from coordinator.auth.models import AuditEvent, User
from coordinator.campaigns import approvals, lifecycle
from coordinator.campaigns.models import Campaign
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Conflict, Forbidden, Invalid
from tests.factories import add_joint_agreement, build_world


@pytest.fixture
async def world(db):
    w = await build_world(db)
    await add_joint_agreement(w)
    return w


async def _joint(world) -> int:
    return await world.campaign(agreement="joint", targets=("province",))


async def _actions(db, campaign_id):
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "campaign", AuditEvent.object_id == campaign_id
            )
        )
        return list(rows)


async def test_it_refuses_to_launch_or_schedule_a_partys_draft_before_approval(world):
    cid = await _joint(world)
    coordinator = world.actor["coordinator"]
    for move in (lifecycle.launch_campaign, lifecycle.schedule_campaign):
        with pytest.raises(Conflict) as exc:
            await move(world.db, coordinator, cid)
        assert exc.value.code == "needs_approval"


async def test_it_lets_the_lead_draft_without_approval(world):
    cid = await world.campaign()
    with pytest.raises(Conflict) as exc:
        await approvals.submit_campaign(world.db, world.actor["coordinator"], cid)
    assert exc.value.code == "no_approval"
    result = await lifecycle.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert result.campaign.status == "active"


async def test_it_submits_approves_and_launches_with_every_step_audited(world):
    cid = await _joint(world)
    async with world.db.write() as session:
        approver = await session.get(User, world.user_id["joint_lead"])
        approver.telegram_user_id = 777_001
    submitted = await approvals.submit_campaign(world.db, world.actor["coordinator"], cid)
    assert submitted.status == "submitted" and submitted.submitted_at is not None
    async with world.db.read() as session:
        told = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == 777_001))
        ).all()
    assert len(told) == 1 and "Cảnh giác" in told[0].payload["text"]
    assert [c.id for c in await approvals.waiting_for(world.db, world.actor["joint_lead"])] == [cid]
    assert [c.id for c in await approvals.waiting_for(world.db, world.actor["admin"])] == [cid]
    assert await approvals.waiting_for(world.db, world.actor["coordinator"]) == []
    approved = await approvals.approve_campaign(world.db, world.actor["joint_lead"], cid)
    assert approved.status == "approved"
    assert approved.reviewed_by_user_id == world.user_id["joint_lead"]
    launched = await lifecycle.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert launched.campaign.status == "active" and launched.created > 0
    actions = await _actions(world.db, cid)
    assert {"campaign.submit", "campaign.approve", "campaign.launch"} <= set(actions)


async def test_it_returns_with_a_comment_kept_for_the_drafter(world):
    cid = await _joint(world)
    await approvals.submit_campaign(world.db, world.actor["coordinator"], cid)
    with pytest.raises(Invalid):
        await approvals.return_campaign(world.db, world.actor["joint_lead"], cid, "  ")
    back = await approvals.return_campaign(world.db, world.actor["joint_lead"], cid, "Sửa tiêu đề")
    assert back.status == "draft" and back.review_comment == "Sửa tiêu đề"
    with pytest.raises(Conflict):
        await lifecycle.launch_campaign(world.db, world.actor["coordinator"], cid)
    again = await approvals.submit_campaign(world.db, world.actor["coordinator"], cid)
    assert again.status == "submitted"
    assert "campaign.return" in await _actions(world.db, cid)


async def test_it_lets_only_the_leads_coordinators_or_an_admin_approve(world):
    cid = await _joint(world)
    await approvals.submit_campaign(world.db, world.actor["coordinator"], cid)
    with pytest.raises(Forbidden):
        await approvals.approve_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        assert (await session.get(Campaign, cid)).status == "submitted"
    approved = await approvals.approve_campaign(world.db, world.actor["admin"], cid, "Đồng ý")
    assert approved.status == "approved" and approved.review_comment == "Đồng ý"
    with pytest.raises(Conflict):
        await approvals.approve_campaign(world.db, world.actor["admin"], cid)
