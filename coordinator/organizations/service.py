"""Organizations (the tree), clubs and group chats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import row_id
from coordinator.db import Database
from coordinator.errors import Conflict, Invalid, NotFound, field_error
from coordinator.organizations.models import Club, GroupChat, Member, Organization
from coordinator.organizations.tree import subtree_ids, tree_lines
from coordinator.pagination import Page, paginate

ORG_KINDS = (
    "province",
    "district",
    "commune",
    "agency",
    "enterprise",
    "school",
    "police",
    "military",
    "union",
)


def _check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise Invalid(
            "The name is missing or too long.", errors=[field_error(field, "1-200 characters")]
        )
    return name


async def list_organizations(
    db: Database, actor: Actor, limit: int, offset: int
) -> Page[Organization]:
    async with db.read() as session:
        return await paginate(
            session, select(Organization).order_by(col(Organization.id)), limit, offset
        )


async def get_organization(db: Database, actor: Actor, org_id: int) -> Organization:
    async with db.read() as session:
        org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"Organization {org_id} not found.")
    return org


async def create_organization(
    db: Database, actor: Actor | None, *, name: str, kind: str, parent_id: int | None
) -> Organization:
    """Admins build the tree (the command line too, with actor=None)."""
    if actor is not None:
        policy.require(policy.administers(actor))
    name = _check_name(name)
    if kind not in ORG_KINDS:
        raise Invalid(
            "Unknown kind.",
            errors=[field_error("kind", "one of {choices}", choices=", ".join(ORG_KINDS))],
        )
    async with db.write() as session:
        if parent_id is not None and await session.get(Organization, parent_id) is None:
            raise Invalid(
                "No such parent.", errors=[field_error("parent_id", "no such organization")]
            )
        org = Organization(name=name, kind=kind, parent_id=parent_id)
        session.add(org)
        await session.flush()
        audit(session, actor, "organization.create", "organization", org.id)
    return org


async def update_organization(
    db: Database, actor: Actor, org_id: int, *, name: str | None, parent_id: int | None, move: bool
) -> Organization:
    """Rename, or move under another parent (never under itself or its own descendants)."""
    policy.require(policy.administers(actor))
    async with db.write() as session:
        org = await session.get(Organization, org_id)
        if org is None:
            raise NotFound(f"Organization {org_id} not found.")
        if name is not None:
            org.name = _check_name(name)
        if move:
            if parent_id is not None:
                if await session.get(Organization, parent_id) is None:
                    raise Invalid(
                        "No such parent.", errors=[field_error("parent_id", "no such organization")]
                    )
                if parent_id in await subtree_ids(session, [org_id]):
                    raise Invalid(
                        "An organization cannot move under itself or its own sub-organizations.",
                        errors=[field_error("parent_id", "would make a cycle")],
                    )
            org.parent_id = parent_id
        audit(session, actor, "organization.update", "organization", org_id)
    return org


async def list_clubs(
    db: Database, actor: Actor, organization_id: int | None, limit: int, offset: int
) -> Page[Club]:
    stmt = select(Club).order_by(col(Club.id))
    if organization_id is not None:
        stmt = stmt.where(Club.organization_id == organization_id)
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)


async def create_club(
    db: Database, actor: Actor | None, *, organization_id: int, name: str
) -> Club:
    if actor is not None:
        policy.require_organization(actor, organization_id)
    name = _check_name(name)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid(
                "No such organization.",
                errors=[field_error("organization_id", "no such organization")],
            )
        if await _club_named(session, organization_id, name):
            raise Invalid(
                "The club exists.",
                errors=[field_error("name", "already used in this organization")],
            )
        club = Club(organization_id=organization_id, name=name)
        session.add(club)
        await session.flush()
        audit(session, actor, "club.create", "club", club.id)
    return club


async def _club_named(session: AsyncSession, organization_id: int, name: str) -> bool:
    found = await session.scalar(
        select(Club.id).where(Club.organization_id == organization_id, Club.name == name)
    )
    return found is not None


async def rename_club(db: Database, actor: Actor, club_id: int, name: str) -> Club:
    name = _check_name(name)
    async with db.write() as session:
        club = await session.get(Club, club_id)
        if club is None:
            raise NotFound(f"Club {club_id} not found.")
        policy.require_organization(actor, club.organization_id)
        if name != club.name and await _club_named(session, club.organization_id, name):
            raise Conflict(
                "Another club of this organization has that name.",
                errors=[field_error("name", "already used in this organization")],
            )
        club.name = name
        audit(session, actor, "club.update", "club", club_id)
    return club


@dataclass
class OrganizationLine:
    """One organization in the tree view, with the counts a lead acts on."""

    organization: Organization
    depth: int
    clubs: list[Club]
    members: int = 0
    linked: int = 0
    groups: int = 0
    manageable: bool = False


async def organization_tree(db: Database, actor: Actor) -> list[OrganizationLine]:
    """Every organization in tree order; member counts only where the actor may see members."""
    async with db.read() as session:
        orgs = (await session.scalars(select(Organization).order_by(col(Organization.name)))).all()
        clubs = (await session.scalars(select(Club).order_by(col(Club.name)))).all()
        counts = await _member_counts(session, actor) if policy.sees_names(actor) else {}
        groups = dict(
            (
                await session.execute(
                    select(GroupChat.organization_id, func.count()).group_by(
                        col(GroupChat.organization_id)
                    )
                )
            )
            .tuples()
            .all()
        )
    by_id = {row_id(org): org for org in orgs}
    by_org: dict[int, list[Club]] = {}
    for club in clubs:
        by_org.setdefault(club.organization_id, []).append(club)
    lines: list[OrganizationLine] = []
    for line in tree_lines((oid, org.parent_id) for oid, org in by_id.items()):
        total, linked = counts.get(line.id, (0, 0))
        lines.append(
            OrganizationLine(
                by_id[line.id],
                line.depth,
                by_org.get(line.id, []),
                total,
                linked,
                groups.get(line.id, 0),
                policy.manages_organization(actor, line.id),
            )
        )
    return lines


async def _member_counts(session: AsyncSession, actor: Actor) -> dict[int, tuple[int, int]]:
    """(active members, of them linked to Telegram) per organization the actor sees members of."""
    counted: Any = select(
        Member.organization_id,
        func.count(),
        func.count(col(Member.telegram_user_id)),
    ).where(col(Member.deactivated_at).is_(None))
    rows = await session.execute(
        scope.members(actor, counted).group_by(col(Member.organization_id))
    )
    return {org_id: (total, linked) for org_id, total, linked in rows}


async def set_weekly_task_cap(
    db: Database, actor: Actor | None, organization_id: int, cap: int | None
) -> Organization:
    """Fair load: at most `cap` tasks per member of this organization per week (None: only
    the deployment's cap, if any)."""
    if actor is not None:
        policy.require(policy.sets_task_cap_for(actor, organization_id), policy.TASK_CAP_REFUSED)
    if cap is not None and not 1 <= cap <= 100:
        raise Invalid(
            "The cap cannot be saved.",
            errors=[field_error("weekly_task_cap", "a whole number from 1 to 100, or empty")],
        )
    async with db.write() as session:
        org = await session.get(Organization, organization_id)
        if org is None:
            raise NotFound("No such organization.")
        org.weekly_task_cap = cap
        audit(session, actor, "organization.task_cap", "organization", organization_id, cap=cap)
    return org
