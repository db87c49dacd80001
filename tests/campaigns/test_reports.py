"""Reports: idempotent, forward-only, refused after the deadline, checked against the reporter."""

from datetime import timedelta

import pytest
from sqlmodel import func, select

from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, ContentItem, Report
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.errors import Conflict, Forbidden, Invalid
from coordinator.organizations.models import GroupChat


async def _launched(world, **kwargs):
    cid = await world.campaign(**kwargs)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        rows = (
            await session.scalars(select(Assignment).where(Assignment.campaign_id == cid))
        ).all()
        item = await session.scalar(select(ContentItem).where(ContentItem.campaign_id == cid))
    return cid, {a.member_id or a.group_chat_id: a for a in rows}, item


async def _reports(db) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(Report))


async def test_it_records_each_step_once_and_moves_forward(world):
    _, by_member, _ = await _launched(world, targets=("district",))
    d1 = world.member["d1"]
    a = by_member[d1]
    ack = await record_report(world.db, ReportRequest(a.id, d1, "acknowledged"))
    assert ack.created and ack.assignment_status == "acknowledged"
    repeat = await record_report(world.db, ReportRequest(a.id, d1, "acknowledged"))
    assert not repeat.created and repeat.report.id == ack.report.id
    done = await record_report(
        world.db, ReportRequest(a.id, d1, "done", proof_url="https://facebook.com/me/posts/1")
    )
    assert done.assignment_status == "done"
    with pytest.raises(Conflict) as error:
        await record_report(world.db, ReportRequest(a.id, d1, "declined"))
    assert error.value.code == "status_backwards"
    assert await _reports(world.db) == 2


async def test_it_records_item_actions_and_counts_them_as_acknowledgement(world):
    _, by_member, item = await _launched(world, targets=("district",))
    d2 = world.member["d2"]
    outcome = await record_report(
        world.db, ReportRequest(by_member[d2].id, d2, "share", content_item_id=item.id)
    )
    assert outcome.assignment_status == "acknowledged"
    with pytest.raises(Invalid, match="not asked"):
        await record_report(
            world.db, ReportRequest(by_member[d2].id, d2, "comment", content_item_id=item.id)
        )
    with pytest.raises(Invalid, match="which content item"):
        await record_report(world.db, ReportRequest(by_member[d2].id, d2, "share"))


async def test_it_refuses_done_after_the_deadline_with_a_reason(world):
    now = utcnow()
    _, by_member, _ = await _launched(
        world, targets=("district",), launch_at=now, deadline_at=now + timedelta(days=1)
    )
    d1 = world.member["d1"]
    with pytest.raises(Conflict) as error:
        await record_report(
            world.db, ReportRequest(by_member[d1].id, d1, "done"), now=now + timedelta(days=2)
        )
    assert error.value.code == "deadline_passed"
    assert "deadline has passed" in error.value.detail
    assert await _reports(world.db) == 0


async def test_it_refuses_reports_on_expired_tasks(world):
    cid, by_member, _ = await _launched(world, targets=("district",))
    await campaigns.close_campaign(world.db, world.actor["coordinator"], cid)
    d1 = world.member["d1"]
    with pytest.raises(Conflict, match="no longer running"):
        await record_report(world.db, ReportRequest(by_member[d1].id, d1, "done"))


async def test_it_refuses_someone_elses_task(world):
    _, by_member, _ = await _launched(world, targets=("district",))
    with pytest.raises(Conflict, match="someone else"):
        await record_report(
            world.db, ReportRequest(by_member[world.member["d1"]].id, world.member["d2"], "done")
        )


async def test_it_records_group_presses_per_member_of_the_groups_organization(world):
    async with world.db.write() as session:
        group = GroupChat(
            telegram_chat_id=-2001, title="Huyện", organization_id=world.org["district"]
        )
        session.add(group)
    _, by_chat, _ = await _launched(world, targets=("district",), mode="group")
    a = by_chat[group.id]
    for key in ("d1", "c1"):
        outcome = await record_report(world.db, ReportRequest(a.id, world.member[key], "done"))
        # A press proves the group's message arrived; the message itself goes no further.
        assert outcome.created and outcome.assignment_status == "delivered"
    with pytest.raises(Conflict, match="Only members"):
        await record_report(world.db, ReportRequest(a.id, world.member["o1"], "done"))
    assert await _reports(world.db) == 2


async def test_it_lets_a_lead_record_for_their_own_people_only(world):
    _, by_member, _ = await _launched(world, targets=("province",))
    d1 = world.member["d1"]
    outcome = await record_report(
        world.db,
        ReportRequest(by_member[d1].id, d1, "done", source="api"),
        actor=world.actor["lead"],
    )
    assert outcome.created
    with pytest.raises(Forbidden):
        await record_report(
            world.db,
            ReportRequest(by_member[d1].id, d1, "acknowledged"),
            actor=world.actor["outsider_lead"],
        )


async def test_it_refuses_unknown_actions_and_bad_proof_links(world):
    _, by_member, _ = await _launched(world, targets=("district",))
    d1 = world.member["d1"]
    with pytest.raises(Invalid, match="Unknown action"):
        await record_report(world.db, ReportRequest(by_member[d1].id, d1, "report_account"))
    with pytest.raises(Invalid, match="Not a web address"):
        await record_report(
            world.db, ReportRequest(by_member[d1].id, d1, "done", proof_url="ftp://x")
        )
    assert await _reports(world.db) == 0
