"""Whom the volunteer simulator may act as: linked members and group chats the actor may see
(the scoping helper decides)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.db import Database
from coordinator.errors import NotFound
from coordinator.organizations.models import GroupChat, Member

LISTED = 40


async def list_volunteers(
    db: Database, actor: Actor, search: str | None
) -> tuple[Sequence[Member], Sequence[GroupChat]]:
    """The first active members linked to Telegram (by name, optionally matching `search`) and
    every group chat, both within the actor's reach."""
    stmt = scope.members(
        actor,
        select(Member)
        .where(col(Member.telegram_user_id).is_not(None), col(Member.deactivated_at).is_(None))
        .order_by(col(Member.display_name))
        .limit(LISTED),
    )
    if search:
        stmt = stmt.where(col(Member.display_name).icontains(search.strip(), autoescape=True))
    async with db.read() as session:
        volunteers = (await session.scalars(stmt)).all()
        groups = (
            await session.scalars(
                scope.group_chats(actor, select(GroupChat).order_by(col(GroupChat.title)))
            )
        ).all()
    return volunteers, groups


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
