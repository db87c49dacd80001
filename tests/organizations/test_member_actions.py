"""One member's and many members' actions: reactivate, bulk move, deactivate and invite
(every chosen member or none, audited), and the member's record for their page."""

import pytest
from sqlmodel import func, select

from coordinator.auth.models import AuditEvent
from coordinator.errors import Forbidden, Invalid, NotFound
from coordinator.organizations import member_bulk, members
from coordinator.organizations.member_bulk import BulkRefused
from coordinator.organizations.member_record import member_record
from coordinator.organizations.models import Member


async def _audits(world, action: str) -> int:
    async with world.db.read() as session:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(await session.scalar(stmt) or 0)


async def _org_of(world, key: str) -> int:
    async with world.db.read() as session:
        member = await session.get(Member, world.member[key])
        assert member is not None
        return member.organization_id


async def test_it_reactivates_a_deactivated_member_and_audits_it(world):
    lead = world.actor["lead"]
    await members.deactivate_member(world.db, lead, world.member["d1"])
    member = await members.reactivate_member(world.db, lead, world.member["d1"])
    assert member.deactivated_at is None
    assert await _audits(world, "member.reactivate") == 1
    await members.reactivate_member(world.db, lead, world.member["d1"])  # already active
    assert await _audits(world, "member.reactivate") == 1


async def test_it_refuses_reactivation_to_the_wrong_lead_and_leadership(world):
    with pytest.raises(NotFound):
        await members.reactivate_member(world.db, world.actor["outsider_lead"], world.member["d1"])
    with pytest.raises(Forbidden):
        await members.reactivate_member(world.db, world.actor["leadership"], world.member["d1"])
    with pytest.raises(Forbidden):
        await members.reactivate_member(world.db, world.actor["coordinator"], world.member["d1"])


async def test_it_moves_every_chosen_member_and_audits_each(world):
    chosen = [world.member["d1"], world.member["d2"]]
    moved = await member_bulk.move_members(
        world.db, world.actor["lead"], chosen, world.org["commune"]
    )
    assert moved == 2
    assert await _org_of(world, "d1") == world.org["commune"]
    assert await _org_of(world, "d2") == world.org["commune"]
    assert await _audits(world, "member.update") == 2
    _, clubs = await members.get_member(world.db, world.actor["lead"], world.member["d1"])
    assert clubs == []  # the district's club stays behind


async def test_a_bulk_move_with_one_refused_member_moves_none(world):
    chosen = [world.member["d1"], world.member["d2"], world.member["b_opted_out"]]
    with pytest.raises(BulkRefused) as refused:
        await member_bulk.move_members(world.db, world.actor["lead"], chosen, world.org["commune"])
    assert [r.reason for r in refused.value.refusals] == ["not found"]
    assert await _org_of(world, "d1") == world.org["district"]
    assert await _audits(world, "member.update") == 0


async def test_a_bulk_move_outside_the_leads_reach_is_refused(world):
    with pytest.raises(Forbidden):
        await member_bulk.move_members(
            world.db, world.actor["lead"], [world.member["d1"]], world.org["district2"]
        )
    with pytest.raises(Forbidden):
        await member_bulk.move_members(
            world.db, world.actor["leadership"], [world.member["d1"]], world.org["district"]
        )


async def test_a_bulk_move_refuses_codes_taken_in_the_target(world):
    admin = world.actor["admin"]
    await members.update_member(world.db, admin, world.member["d1"], code="X1")
    await members.create_member(
        world.db, admin, organization_id=world.org["commune"], display_name="Đã có", code="X1"
    )
    with pytest.raises(BulkRefused) as refused:
        await member_bulk.move_members(
            world.db, admin, [world.member["d1"], world.member["d2"]], world.org["commune"]
        )
    assert [r.reason for r in refused.value.refusals] == ["code already used there"]
    assert await _org_of(world, "d2") == world.org["district"]


async def test_it_deactivates_every_chosen_member_or_none(world):
    lead = world.actor["lead"]
    with pytest.raises(BulkRefused):
        await member_bulk.deactivate_members(
            world.db, lead, [world.member["d1"], world.member["o1"]]
        )
    assert await _audits(world, "member.deactivate") == 0
    count = await member_bulk.deactivate_members(
        world.db, lead, [world.member["d1"], world.member["d2"]]
    )
    assert count == 2
    assert await _audits(world, "member.deactivate") == 2
    with pytest.raises(Invalid, match="Choose at least one"):
        await member_bulk.deactivate_members(world.db, lead, [])


async def test_it_invites_every_chosen_member_or_none(world):
    lead = world.actor["lead"]
    fresh = await members.create_member(
        world.db, lead, organization_id=world.org["district"], display_name="Mới"
    )
    quitting = await members.create_member(
        world.db, lead, organization_id=world.org["district"], display_name="Nghỉ"
    )
    assert fresh.id is not None and quitting.id is not None
    await members.deactivate_member(world.db, lead, quitting.id)
    chosen = [fresh.id, quitting.id, world.member["d1"]]
    with pytest.raises(BulkRefused) as refused:
        await member_bulk.invite_members(world.db, lead, chosen)
    assert sorted(r.reason for r in refused.value.refusals) == [
        "already in Telegram",
        "deactivated",
    ]
    assert await _audits(world, "invite.create") == 0
    sheet = await member_bulk.invite_members(world.db, lead, [fresh.id, world.member["c_unlinked"]])
    assert len(sheet) == 2 and all(link.link.startswith("https://t.me/") for _, link in sheet)
    assert await _audits(world, "invite.create") == 2
    record = await member_record(world.db, lead, fresh.id)
    assert record.telegram == "invited"


async def test_the_member_record_shows_organization_clubs_and_tasks(world):
    campaign = await world.campaign()
    del campaign
    record = await member_record(world.db, world.actor["coordinator"], world.member["d1"])
    assert record.organization.id == world.org["district"]
    assert [c.id for c in record.clubs] == [world.club["club"]]
    assert record.telegram in ("linked", "not_linked", "invited")
    with pytest.raises(Forbidden):
        await member_record(world.db, world.actor["leadership"], world.member["d1"])
    with pytest.raises(NotFound):
        await member_record(world.db, world.actor["outsider_lead"], world.member["d1"])
