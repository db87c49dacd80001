"""Notes to organization leads in their own Telegram (linked from the web), through the outbox."""

from __future__ import annotations

from datetime import datetime
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.bots.outbox import queue_text
from coordinator.i18n import translate as _
from coordinator.organizations.models import Member
from coordinator.organizations.tree import ancestor_ids


async def leads_over(session: AsyncSession, organization_id: int) -> list[User]:
    """Active leads of this organization or of one above it who linked their Telegram."""
    above = await ancestor_ids(session, organization_id) | {organization_id}
    return list(
        await session.scalars(
            select(User).where(
                col(User.role) == "lead",
                col(User.active),
                col(User.organization_id).in_(above),
                col(User.telegram_user_id).is_not(None),
            )
        )
    )


async def tell_leads_member_joined(
    session: AsyncSession, member: Member, organization: str, invite_id: int | None, now: datetime
) -> int:
    """A member of theirs linked Telegram: each lead over them hears it once per invite."""
    told = 0
    for lead in await leads_over(session, member.organization_id):
        text = _(
            lead.locale,
            "{name} ({organization}) joined the bot and will receive tasks in Telegram.",
            name=f"<b>{escape(member.display_name)}</b>",
            organization=escape(organization),
        )
        key = f"joined:{member.id}:{invite_id}:{lead.id}"
        told += await queue_text(session, int(lead.telegram_user_id or 0), key, text, now)
    return told
