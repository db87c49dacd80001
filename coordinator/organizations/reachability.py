"""What Telegram's answers change for a chat: unreachable (refused for good) or moved.

The sender records these in the same transaction as the outbox rows (`delivery.store.Settle`);
coming back (`onboarding.mark_reachable_in`) is the reverse of the first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, update

from coordinator.delivery.queue import move_chat
from coordinator.organizations.models import GroupChat, Member


async def mark_unreachable(session: AsyncSession, chat_id: int, now: datetime) -> None:
    """A permanent refusal: the member (private chat) or the group stops getting messages."""
    if chat_id > 0:
        await session.execute(
            update(Member)
            .where(col(Member.telegram_user_id) == chat_id, col(Member.unreachable_at).is_(None))
            .values(unreachable_at=now)
        )
    else:
        await session.execute(
            update(GroupChat)
            .where(
                col(GroupChat.telegram_chat_id) == chat_id,
                col(GroupChat.unreachable_at).is_(None),
            )
            .values(unreachable_at=now)
        )


async def migrate_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """The one path for a chat migration (a group became a supergroup), whether the bot saw the
    service message or a send was refused with the new id: the group keeps its registration
    under the new id, and what is queued for it follows."""
    await session.execute(
        update(GroupChat)
        .where(col(GroupChat.telegram_chat_id) == old_chat_id)
        .values(telegram_chat_id=new_chat_id)
    )
    await move_chat(session, old_chat_id, new_chat_id)
