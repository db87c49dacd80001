"""Invite links: a member's link to the bot, and a group's link to register the group chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.passwords import new_token, token_digest
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.bots.identity import deep_link, username_for
from coordinator.db import Database
from coordinator.errors import Invalid, NotFound, field_error
from coordinator.organizations.models import Club, GroupChat, Invite, Member, Organization
from coordinator.pagination import Page, paginate

INVITE_LIFETIME = timedelta(days=14)


@dataclass
class InviteLink:
    link: str
    expires_at: datetime


def _deep_link(username: str, parameter: str, token: str) -> str:
    # Start parameters: up to 64 characters of A-Z a-z 0-9 _ -; the token's prefix stays here.
    return deep_link(username, parameter, token.split("_", 1)[1])


async def member_invite(db: Database, actor: Actor, member_id: int) -> InviteLink:
    """A single-use link that binds the member to the Telegram account that opens it."""
    token = new_token("m")
    async with db.write() as session:
        member = await session.scalar(
            scope.members(actor, select(Member).where(Member.id == member_id))
        )
        if member is None:
            raise NotFound(f"Member {member_id} not found.")
        username = await username_for(session, member.organization_id)
        policy.require_organization(actor, member.organization_id)
        if member.deactivated_at is not None:
            raise Invalid(
                "The member is deactivated.", errors=[field_error("member_id", "deactivated")]
            )
        invite = Invite(
            token_hash=token_digest(token.split("_", 1)[1]),
            kind="member",
            member_id=member_id,
            organization_id=member.organization_id,
            created_by_user_id=actor.user_id,
            expires_at=utcnow() + INVITE_LIFETIME,
        )
        session.add(invite)
        await session.flush()
        audit(session, actor, "invite.create", "member", member_id)
    return InviteLink(_deep_link(username, "start", token), invite.expires_at)


USER_INVITE_LIFETIME = timedelta(days=1)


async def user_invite(db: Database, actor: Actor) -> InviteLink:
    """A single-use link that connects the signed-in user's own Telegram (digests, approvals)."""
    if actor.user_id is None:
        raise Invalid("Only a signed-in user can connect Telegram.")
    token = new_token("u")
    async with db.write() as session:
        username = await username_for(session, actor.organization_id)
        invite = Invite(
            token_hash=token_digest(token.split("_", 1)[1]),
            kind="user",
            organization_id=actor.organization_id,
            created_by_user_id=actor.user_id,  # and the user it links
            expires_at=utcnow() + USER_INVITE_LIFETIME,
        )
        session.add(invite)
        await session.flush()
        audit(session, actor, "invite.create", "user", actor.user_id)
    return InviteLink(_deep_link(username, "start", token), invite.expires_at)


async def group_invite(
    db: Database,
    actor: Actor,
    organization_id: int,
    club_id: int | None,
) -> InviteLink:
    """A link that adds the bot to a group and registers it for the organization (or club)."""
    policy.require_organization(actor, organization_id)
    token = new_token("g")
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise NotFound("No such organization.")
        username = await username_for(session, organization_id)
        if club_id is not None:
            club = await session.get(Club, club_id)
            if club is None or club.organization_id != organization_id:
                raise Invalid(
                    "No such club here.",
                    errors=[field_error("club_id", "not a club of this organization")],
                )
        invite = Invite(
            token_hash=token_digest(token.split("_", 1)[1]),
            kind="group",
            organization_id=organization_id,
            club_id=club_id,
            created_by_user_id=actor.user_id,
            expires_at=utcnow() + INVITE_LIFETIME,
        )
        session.add(invite)
        await session.flush()
        audit(session, actor, "invite.create", "organization", organization_id, kind="group")
    return InviteLink(_deep_link(username, "startgroup", token), invite.expires_at)


async def list_group_chats(
    db: Database, actor: Actor, organization_id: int | None, limit: int, offset: int
) -> Page[GroupChat]:
    stmt = scope.group_chats(actor, select(GroupChat).order_by(col(GroupChat.id)))
    if organization_id is not None:
        stmt = stmt.where(GroupChat.organization_id == organization_id)
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)


MAX_SHEET = 200


async def organization_invites(
    db: Database, actor: Actor, organization_id: int
) -> list[tuple[Member, InviteLink]]:
    """Fresh links for the organization's active members not yet in Telegram (a print sheet)."""
    policy.require_organization(actor, organization_id)
    out: list[tuple[Member, InviteLink]] = []
    async with db.write() as session:
        username = await username_for(session, organization_id)
        members = (
            await session.scalars(
                select(Member)
                .where(
                    Member.organization_id == organization_id,
                    col(Member.telegram_user_id).is_(None),
                    col(Member.deactivated_at).is_(None),
                )
                .order_by(col(Member.display_name))
                .limit(MAX_SHEET)
            )
        ).all()
        expires = utcnow() + INVITE_LIFETIME
        for member in members:
            token = new_token("m")
            session.add(
                Invite(
                    token_hash=token_digest(token.split("_", 1)[1]),
                    kind="member",
                    member_id=member.id,
                    organization_id=organization_id,
                    created_by_user_id=actor.user_id,
                    expires_at=expires,
                )
            )
            out.append((member, InviteLink(_deep_link(username, "start", token), expires)))
        audit(session, actor, "invite.sheet", "organization", organization_id, count=len(out))
    return out
