"""Reminders to volunteers who have not finished a task, as plain Telegram messages."""

from __future__ import annotations

from datetime import datetime
from html import escape

from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns.models import Assignment
from coordinator.clock import local_time_text
from coordinator.db import Database
from coordinator.delivery.queue import Text, queue_texts
from coordinator.errors import Conflict
from coordinator.i18n import translate
from coordinator.organizations.models import Member

# Delivered or acknowledged, not done and not declined: those a reminder can still help.
REMINDABLE = ("delivered", "acknowledged")


def reminder_text(locale: str, title: str, deadline: str) -> str:
    # The sender uses HTML parse mode: the title is escaped, the template has no markup.
    return translate(
        locale,
        "⏰ Reminder: «{title}» is due {deadline}. Open the task above, or send /tasks.",
        title=escape(title),
        deadline=deadline,
    )


async def remind_not_done(
    db: Database, actor: Actor, campaign_id: int, step: str, now: datetime | None = None
) -> int:
    """Queue one reminder per member not done; `step` names the reminder (e.g. a manual one
    by hour, or "24h"), and the dedupe key makes a second reminder for the same step a no-op."""
    now = now or utcnow()
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        if campaign.status != "active":
            raise Conflict("Only an active campaign can send reminders.", code="wrong_status")
        rows = (
            await session.execute(
                select(Assignment.id, Member.telegram_user_id, Member.locale)
                .join(Member, col(Member.id) == Assignment.member_id)
                .where(
                    Assignment.campaign_id == campaign_id,
                    col(Assignment.status).in_(REMINDABLE),
                    col(Member.telegram_user_id).is_not(None),
                    col(Member.opted_out_at).is_(None),
                    col(Member.unreachable_at).is_(None),
                )
            )
        ).all()
        deadline = local_time_text(campaign.deadline_at)
        queued = await queue_texts(
            session,
            (
                Text(
                    int(telegram_id),
                    f"reminder:{step}:{assignment_id}",
                    reminder_text(locale, campaign.title, deadline),
                )
                for assignment_id, telegram_id, locale in rows
            ),
            now,
        )
        audit(
            session,
            actor,
            "campaign.remind",
            "campaign",
            campaign_id,
            step=step,
            queued=queued,
        )
    return queued
