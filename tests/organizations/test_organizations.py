"""The organization tree, clubs and members, with the personas' rights."""

import pytest
from sqlmodel import select

from coordinator.auth.models import AuditEvent
from coordinator.errors import Forbidden, Invalid, NotFound
from coordinator.organizations import members
from coordinator.organizations import service as orgs
from coordinator.organizations.tree import ancestor_ids, subtree_ids


async def test_it_walks_the_tree_both_ways(world):
    async with world.db.read() as session:
        below = await subtree_ids(session, [world.org["province"]])
        above = await ancestor_ids(session, world.org["commune"])
    assert below == {world.org[k] for k in ("province", "district", "district2", "commune")}
    assert above == {world.org["district"], world.org["province"]}


async def test_it_refuses_to_move_an_organization_under_its_own_descendant(world):
    with pytest.raises(Invalid, match="cannot move under itself"):
        await orgs.update_organization(
            world.db,
            world.actor["admin"],
            world.org["district"],
            name=None,
            parent_id=world.org["commune"],
            move=True,
        )
    moved = await orgs.update_organization(
        world.db,
        world.actor["admin"],
        world.org["commune"],
        name=None,
        parent_id=world.org["district2"],
        move=True,
    )
    assert moved.parent_id == world.org["district2"]


async def test_it_lets_only_admins_shape_the_tree(world):
    for who in ("coordinator", "lead", "leadership"):
        with pytest.raises(Forbidden):
            await orgs.create_organization(
                world.db, world.actor[who], name="x", kind="union", parent_id=None
            )


async def test_it_lets_a_lead_add_clubs_in_their_subtree_only(world):
    lead = world.actor["lead"]
    club = await orgs.create_club(
        world.db, lead, organization_id=world.org["commune"], name="CLB mới"
    )
    assert club.organization_id == world.org["commune"]
    with pytest.raises(Forbidden):
        await orgs.create_club(world.db, lead, organization_id=world.org["district2"], name="CLB")
    with pytest.raises(Invalid, match="exists"):
        await orgs.create_club(world.db, lead, organization_id=world.org["commune"], name="CLB mới")


async def test_it_creates_edits_moves_and_deactivates_members(world):
    lead = world.actor["lead"]
    m = await members.create_member(
        world.db,
        lead,
        organization_id=world.org["district"],
        display_name="  Phạm Thị Hoa ",
        code="X1",
        club_ids=[world.club["club"]],
    )
    assert m.display_name == "Phạm Thị Hoa"
    moved = await members.update_member(world.db, lead, m.id, organization_id=world.org["commune"])
    assert moved.organization_id == world.org["commune"]
    _, clubs = await members.get_member(world.db, lead, m.id)
    assert clubs == []  # the district's club stays behind
    gone = await members.deactivate_member(world.db, lead, m.id)
    assert gone.deactivated_at is not None
    async with world.db.read() as session:
        actions = (
            await session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == m.id))
        ).all()
    assert {"member.create", "member.update", "member.deactivate"} <= set(actions)


async def test_it_refuses_bad_member_input_and_writes_nothing(world):
    lead = world.actor["lead"]
    page, _ = await members.list_members(
        world.db, lead, organization_id=None, club_id=None, limit=100, offset=0
    )
    with pytest.raises(Invalid) as error:
        await members.create_member(
            world.db, lead, organization_id=world.org["district"], display_name="", locale="fr"
        )
    assert {e["field"] for e in error.value.errors} == {"display_name", "locale"}
    with pytest.raises(Invalid, match="Clubs must belong"):
        await members.create_member(
            world.db,
            lead,
            organization_id=world.org["district"],
            display_name="A",
            club_ids=[world.club["outsider_club"]],
        )
    with pytest.raises(Invalid, match="Duplicate code"):
        await members.create_member(
            world.db, lead, organization_id=world.org["district"], display_name="A", code="C"
        )
        await members.create_member(
            world.db, lead, organization_id=world.org["district"], display_name="B", code="C"
        )
    after, _ = await members.list_members(
        world.db, lead, organization_id=None, club_id=None, limit=100, offset=0
    )
    assert after.total == page.total + 1  # only the first "C"


async def test_it_shows_named_members_only_inside_the_subtree(world):
    async def names(who):
        page, _ = await members.list_members(
            world.db, world.actor[who], organization_id=None, club_id=None, limit=100, offset=0
        )
        return {m.id for m in page.items}

    district = {world.member[k] for k in ("d1", "d2", "d3", "c1", "c_unlinked")}
    assert await names("lead") == district
    assert await names("outsider_lead") == {world.member["o1"], world.member["o2"]}
    assert len(await names("admin")) == len(world.member)
    with pytest.raises(Forbidden):
        await names("leadership")
    with pytest.raises(NotFound):
        await members.get_member(world.db, world.actor["lead"], world.member["o1"])
    with pytest.raises(Forbidden):
        await members.update_member(
            world.db, world.actor["lead"], world.member["d1"], organization_id=world.org["outsider"]
        )


async def test_it_filters_members_by_club(world):
    page, clubs = await members.list_members(
        world.db,
        world.actor["lead"],
        organization_id=None,
        club_id=world.club["club"],
        limit=100,
        offset=0,
    )
    assert {m.id for m in page.items} == {world.member["d1"], world.member["d3"]}
    assert all(clubs[m.id] == [world.club["club"]] for m in page.items)
