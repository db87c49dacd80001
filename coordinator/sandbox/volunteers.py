"""Whom the volunteer simulator may act as: linked members, users linked to their own Telegram
(leads and focal points) and group chats the actor may see (the scoping helper decides)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.models import User
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


@dataclass(frozen=True)
class Staff:
    """A user of the web UI with their own Telegram (a lead, a focal point), as listed."""

    user: User
    organization: str


async def list_staff(db: Database, actor: Actor, search: str | None) -> list[Staff]:
    """Active users linked to Telegram within the actor's reach, by name: focal points act on
    the campaigns handed to their organization in their own chat."""
    stmt: Any = (
        select(User, Organization.name)
        .join(Organization, col(Organization.id) == User.organization_id)
        .where(col(User.telegram_user_id).is_not(None), col(User.active))
        .order_by(col(User.username))
    )
    if search:
        stmt = stmt.where(col(User.username).icontains(search.strip(), autoescape=True))
    async with db.read() as session:
        rows = (await session.execute(scope.users(actor, stmt).limit(LISTED))).all()
    return [Staff(user, name) for user, name in rows]


async def chat_owner(db: Database, actor: Actor, telegram_id: int) -> str:
    """The name of the linked member or user with this Telegram id, if the actor may see them:
    whose chat the simulator shows and acts in."""
    async with db.read() as session:
        member = await session.scalar(
            scope.members(actor, select(Member).where(Member.telegram_user_id == telegram_id))
        )
        if member is not None:
            return member.display_name
        user = await session.scalar(
            scope.users(actor, select(User).where(User.telegram_user_id == telegram_id))
        )
    if user is None or not user.active:
        raise NotFound("No such volunteer.")
    return user.username


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
