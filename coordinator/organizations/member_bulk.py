"""Bulk actions on chosen members: move, deactivate, invite; every member or none, audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.passwords import new_token, token_digest
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.bots.identity import username_for
from coordinator.db import Database
from coordinator.errors import Invalid, field_error
from coordinator.organizations.invites import INVITE_LIFETIME, InviteLink, _deep_link
from coordinator.organizations.members import set_clubs
from coordinator.organizations.models import Invite, Member, Organization

MAX_BULK = 500
ACTIONS = ("move", "deactivate", "invite")


@dataclass
class Refusal:
    """One member the action cannot apply to, and why (an English message id)."""

    name: str
    reason: str


class BulkRefused(Invalid):
    """Nothing was done: these members could not take the action."""

    def __init__(self, action: str, refusals: list[Refusal]) -> None:
        super().__init__(
            "Nothing was done: some chosen members cannot take this action.",
            errors=[field_error("member_ids", f"{r.name}: {r.reason}") for r in refusals],
        )
        self.action = action
        self.refusals = refusals


async def _chosen(session: AsyncSession, actor: Actor, member_ids: Sequence[int]) -> list[Member]:
    """The chosen members the actor manages; any other one refuses the whole action."""
    ids = sorted(set(member_ids))
    if not ids:
        raise Invalid(
            "Choose at least one member.", errors=[field_error("member_ids", "choose a member")]
        )
    if len(ids) > MAX_BULK:
        raise Invalid(
            "Too many members at once.",
            errors=[field_error("member_ids", "at most 500 members at once")],
        )
    stmt = scope.members(actor, select(Member).where(col(Member.id).in_(ids)))
    found = list((await session.scalars(stmt.order_by(col(Member.id)))).all())
    refusals = [
        Refusal(f"#{missing}", "not found") for missing in sorted(set(ids) - {m.id for m in found})
    ] + [
        Refusal(m.display_name, "not in an organization you manage")
        for m in found
        if not policy.manages_organization(actor, m.organization_id)
    ]
    if refusals:
        raise BulkRefused("chosen", refusals)
    return found


async def move_members(
    db: Database, actor: Actor, member_ids: Sequence[int], organization_id: int
) -> int:
    """Move every chosen member to `organization_id` (their clubs stay behind); the count."""
    policy.require_organization(actor, organization_id)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid(
                "No such organization.",
                errors=[field_error("organization_id", "no such organization")],
            )
        chosen = await _chosen(session, actor, member_ids)
        moving = [m for m in chosen if m.organization_id != organization_id]
        await _refuse_duplicate_codes(session, moving, organization_id)
        for member in moving:
            assert member.id is not None
            audit(
                session,
                actor,
                "member.update",
                "member",
                member.id,
                moved_from=member.organization_id,
                moved_to=organization_id,
            )
            member.organization_id = organization_id
            await set_clubs(session, member.id, [])
    return len(moving)


async def _refuse_duplicate_codes(
    session: AsyncSession, moving: list[Member], organization_id: int
) -> None:
    codes = [m.code for m in moving if m.code]
    taken = set(
        (
            await session.scalars(
                select(Member.code).where(
                    Member.organization_id == organization_id, col(Member.code).in_(codes)
                )
            )
        ).all()
    )
    seen: set[str] = set()
    refusals = []
    for member in moving:
        if member.code and (member.code in taken or member.code in seen):
            refusals.append(Refusal(member.display_name, "code already used there"))
        if member.code:
            seen.add(member.code)
    if refusals:
        raise BulkRefused("move", refusals)


async def deactivate_members(db: Database, actor: Actor, member_ids: Sequence[int]) -> int:
    """Deactivate every chosen member still active; the count."""
    async with db.write() as session:
        chosen = await _chosen(session, actor, member_ids)
        now = utcnow()
        active = [m for m in chosen if m.deactivated_at is None]
        for member in active:
            member.deactivated_at = now
            audit(session, actor, "member.deactivate", "member", member.id)
    return len(active)


async def invite_members(
    db: Database, actor: Actor, member_ids: Sequence[int]
) -> list[tuple[Member, InviteLink]]:
    """Fresh single-use links for every chosen member; refused when any one is deactivated or
    already in Telegram."""
    async with db.write() as session:
        chosen = await _chosen(session, actor, member_ids)
        refusals = [
            Refusal(m.display_name, "deactivated" if m.deactivated_at else "already in Telegram")
            for m in chosen
            if m.deactivated_at is not None or m.telegram_user_id is not None
        ]
        if refusals:
            raise BulkRefused("invite", refusals)
        expires = utcnow() + INVITE_LIFETIME
        out = []
        names: dict[int, str] = {}  # each member's link names the bot of their organization
        for member in chosen:
            if member.organization_id not in names:
                names[member.organization_id] = await username_for(session, member.organization_id)
            username = names[member.organization_id]
            token = new_token("m")
            session.add(
                Invite(
                    token_hash=token_digest(token.split("_", 1)[1]),
                    kind="member",
                    member_id=member.id,
                    organization_id=member.organization_id,
                    created_by_user_id=actor.user_id,
                    expires_at=expires,
                )
            )
            audit(session, actor, "invite.create", "member", member.id)
            out.append((member, InviteLink(_deep_link(username, "start", token), expires)))
    return out
