"""Whom the volunteer simulator may act as: linked members and group chats the actor may see
(the scoping helper decides)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.db import Database
from coordinator.errors import NotFound
from coordinator.organizations.models import GroupChat, Member, Organization
from coordinator.pagination import Page, check_window

LISTED = 40


@dataclass(frozen=True)
class Volunteer:
    """A volunteer as the simulator lists them: the member and what tells namesakes apart."""

    member: Member
    organization: str


async def list_volunteers(
    db: Database, actor: Actor, search: str | None, offset: int = 0
) -> tuple[Page[Volunteer], Sequence[GroupChat]]:
    """A page of active members linked to Telegram (by name, then organization; `search` matches
    the name or the member code) with their organization, and every group chat, both within the
    actor's reach."""
    listed: Any = (
        select(Member, Organization.name)
        .join(Organization, col(Organization.id) == Member.organization_id)
        .where(col(Member.telegram_user_id).is_not(None), col(Member.deactivated_at).is_(None))
        .order_by(col(Member.display_name), col(Organization.name), col(Member.id))
    )
    stmt = scope.members(actor, listed)
    if search:
        text = search.strip()
        stmt = stmt.where(
            or_(
                col(Member.display_name).icontains(text, autoescape=True),
                col(Member.code).icontains(text, autoescape=True),
            )
        )
    async with db.read() as session:
        check_window(LISTED, offset)
        counted = select(func.count()).select_from(stmt.order_by(None).subquery())
        total = await session.scalar(counted)
        rows = (await session.execute(stmt.limit(LISTED).offset(offset))).all()
        groups = (
            await session.scalars(
                scope.group_chats(actor, select(GroupChat).order_by(col(GroupChat.title)))
            )
        ).all()
    found = [Volunteer(member, name) for member, name in rows]
    return Page(found, int(total or 0), LISTED, offset), groups


async def volunteer(db: Database, actor: Actor, telegram_id: int) -> Member:
    """The linked member with this Telegram id, if the actor may see them."""
    async with db.read() as session:
        member = await session.scalar(
            scope.members(actor, select(Member).where(Member.telegram_user_id == telegram_id))
        )
    if member is None:
        raise NotFound("No such volunteer.")
    return member


async def group_chat(db: Database, actor: Actor, telegram_chat_id: int) -> GroupChat:
    """The group chat with this Telegram id, if the actor may see it."""
    async with db.read() as session:
        found = await session.scalar(
            scope.group_chats(
                actor, select(GroupChat).where(GroupChat.telegram_chat_id == telegram_chat_id)
            )
        )
    if found is None:
        raise NotFound("No such group chat.")
    return found
