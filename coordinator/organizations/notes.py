"""Notes to organization leads in their own Telegram (linked from the web), through the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.delivery.queue import queue_text
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


async def _tell_leads(
    session: AsyncSession,
    member: Member,
    key: str,
    text: Callable[[str], str],
    now: datetime,
) -> int:
    """Queue `text(locale)` to each lead over the member, once per lead for `key`."""
    told = 0
    for lead in await leads_over(session, member.organization_id):
        chat_id = int(lead.telegram_user_id or 0)
        told += await queue_text(session, chat_id, f"{key}:{lead.id}", text(lead.locale), now)
    return told


async def tell_leads_member_joined(
    session: AsyncSession, member: Member, organization: str, invite_id: int | None, now: datetime
) -> int:
    """A member of theirs linked Telegram: each lead over them hears it once per invite."""
    return await _tell_leads(
        session,
        member,
        f"joined:{member.id}:{invite_id}",
        lambda locale: _(
            locale,
            "{name} ({organization}) joined the bot and will receive tasks in Telegram.",
            name=f"<b>{escape(member.display_name)}</b>",
            organization=escape(organization),
        ),
        now,
    )


async def tell_leads_member_back(
    session: AsyncSession, member: Member, organization: str, since: datetime, now: datetime
) -> int:
    """A member Telegram refused (blocked bot) wrote again: each lead hears it once for each
    time they were unreachable (`since` tells those times apart)."""
    return await _tell_leads(
        session,
        member,
        f"back:{member.id}:{int(since.timestamp())}",
        lambda locale: _(
            locale,
            "{name} ({organization}) can be reached in Telegram again and will receive new tasks.",
            name=f"<b>{escape(member.display_name)}</b>",
            organization=escape(organization),
        ),
        now,
    )
