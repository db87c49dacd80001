"""Time limits of organization tasks (delivery mode `org`): when an organization's focal points
have not acted (received, passed on, or can't), the scheduler reminds them, then tells the
parent organization's focal points, then, if the campaign asks for it, passes the task on to
all the organization's members, exactly as a focal point's "all members" press does.

Each step is taken once: a conditional UPDATE stamps the task (`reminded_at`, `escalated_at`,
`auto_passed_on_at`) only while it is still pending and unstamped, and only the transaction
whose UPDATE changed the row queues the messages (each with a dedupe key as well). Two sweeps
racing, on two processes, leave one stamp and one set of messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.audit import audit
from coordinator.auth.scope import SYSTEM, Actor, editable_campaign
from coordinator.base import utcnow
from coordinator.campaigns import cascade, cascade_messages
from coordinator.campaigns.models import Campaign, OrganizationTask
from coordinator.clock import local_time_text
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.delivery.queue import queue_once
from coordinator.errors import Conflict, NotFound
from coordinator.i18n import translate as _
from coordinator.organizations import focal_points
from coordinator.organizations.models import Organization

STAMPS = {"remind": "reminded_at", "escalate": "escalated_at", "auto_pass_on": "auto_passed_on_at"}
HOURS = {
    "remind": "org_remind_after_hours",
    "escalate": "org_escalate_after_hours",
    "auto_pass_on": "org_auto_pass_on_after_hours",
}
MANUAL_WINDOW = 15 * 60  # seconds: a second "remind now" within this window queues nothing


def next_step(task: OrganizationTask, campaign: Campaign, now: datetime) -> str | None:
    """The step due now for a task nobody acted on, if any. Each delay counts from the step
    before it (the task's creation for the first); a step the campaign turned off is skipped."""
    if task.status != "pending":
        return None
    since = task.created_at
    for step, stamp in STAMPS.items():
        hours = getattr(campaign, HOURS[step])
        if not hours:
            continue
        done = getattr(task, stamp)
        if done is not None:
            since = done
            continue
        return step if now >= since + timedelta(hours=hours) else None
    return None


@dataclass(frozen=True)
class Due:
    task_id: int
    step: str
    quiet_ok: bool  # the campaign also sends in quiet hours


async def due_steps(db: Database, now: datetime) -> list[Due]:
    """The steps due now, over the pending tasks of running campaigns."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OrganizationTask, Campaign)
                .join(Campaign, col(Campaign.id) == OrganizationTask.campaign_id)
                .where(
                    col(Campaign.status) == "active",
                    col(Campaign.deadline_at) > now,
                    col(OrganizationTask.status) == "pending",
                    col(OrganizationTask.auto_passed_on_at).is_(None),
                )
                .order_by(col(OrganizationTask.id))
            )
        ).all()
    due = []
    for task, campaign in rows:
        step = next_step(task, campaign, now)
        if step is not None and task.id is not None:
            due.append(Due(task.id, step, campaign.remind_in_quiet_hours))
    return due


async def _claim(session: AsyncSession, task_id: int, step: str, now: datetime) -> bool:
    """Stamp the step on the task if it is still pending and unstamped: True for the one
    transaction that did (on PostgreSQL a racing UPDATE waits, then finds the stamp)."""
    stamp = getattr(OrganizationTask, STAMPS[step])
    result = await session.execute(
        update(OrganizationTask)
        .where(
            col(OrganizationTask.id) == task_id,
            col(OrganizationTask.status) == "pending",
            col(stamp).is_(None),
        )
        .values({STAMPS[step]: now})
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def take_step(db: Database, due: Due, now: datetime) -> int | None:
    """Take one due step; how many messages or assignments it wrote, None if another sweep
    (or a focal point's press) came first."""

    async def run(session: AsyncSession) -> int | None:
        if not await _claim(session, due.task_id, due.step, now):
            return None
        task = await session.get(OrganizationTask, due.task_id, populate_existing=True)
        assert task is not None
        if due.step == "remind":
            done = await queue_reminder(session, task, "auto", now)
        elif due.step == "escalate":
            done = await queue_escalation(session, task, now)
        else:  # the focal point's own "all members" press, with nobody behind it
            done = (await cascade.pass_on(session, due.task_id, None, "members", now)).created
        audit(
            session, SYSTEM, f"organization_task.{due.step}", "organization_task", task.id, n=done
        )
        return done

    return await db.transaction(run)


async def _about(session: AsyncSession, task: OrganizationTask) -> tuple[Campaign, Organization]:
    campaign = await session.get(Campaign, task.campaign_id)
    organization = await session.get(Organization, task.organization_id)
    assert campaign is not None and organization is not None
    return campaign, organization


def reminder_text(locale: str, organization: str, campaign: Campaign) -> str:
    return _(
        locale,
        "⏰ Reminder for {organization}: «{title}» is waiting for you to pass it on "
        "(deadline {deadline}). Choose below, or open the campaign on the web.",
        organization=escape(organization),
        title=escape(campaign.title),
        deadline=local_time_text(campaign.deadline_at),
    )


def escalation_text(locale: str, organization: str, campaign: Campaign, since: datetime) -> str:
    return _(
        locale,
        "⚠️ {organization} has not acted on «{title}», handed to it at {since} "
        "(deadline {deadline}). Please get in touch with its focal points.",
        organization=escape(organization),
        title=escape(campaign.title),
        since=local_time_text(since),
        deadline=local_time_text(campaign.deadline_at),
    )


async def queue_reminder(
    session: AsyncSession, task: OrganizationTask, step: str, now: datetime
) -> int:
    """A reminder to each linked focal point of the task's organization, with the task's
    buttons; once per `step` (the sweep's "auto", or a manual window) and focal point."""
    campaign, organization = await _about(session, task)
    messages = [
        _message(
            f"orgremind:{task.id}:{step}:{user.id}",
            user.telegram_user_id or 0,
            reminder_text(user.locale, organization.name, campaign),
            user.locale,
            now,
            cascade_messages.buttons(task, user.locale),
        )
        for user in await focal_points.linked(session, task.organization_id)
    ]
    return await queue_once(session, messages)


async def queue_escalation(session: AsyncSession, task: OrganizationTask, now: datetime) -> int:
    """A note to the parent organization's linked focal points (none at the top of the tree:
    the step is still recorded, and the audit says nobody was told)."""
    campaign, organization = await _about(session, task)
    if organization.parent_id is None:
        return 0
    messages = [
        _message(
            f"orgescalate:{task.id}:{user.id}",
            user.telegram_user_id or 0,
            escalation_text(user.locale, organization.name, campaign, task.created_at),
            user.locale,
            now,
        )
        for user in await focal_points.linked(session, organization.parent_id)
    ]
    return await queue_once(session, messages)


def _message(
    key: str, chat: int, text: str, locale: str, now: datetime, markup: Any = None
) -> OutboxMessage:
    payload = {"text": text, "locale": locale, "markup": markup} if markup else {"text": text}
    return OutboxMessage(
        dedupe_key=key, chat_id=chat, kind="text", payload=payload, next_attempt_at=now
    )


async def remind_now(
    db: Database, actor: Actor, task_id: int, now: datetime | None = None
) -> tuple[int, int]:
    """A coordinator's "remind now" for one organization task: the sweep's reminder, once per
    MANUAL_WINDOW; (campaign id, reminders queued: 0 when one went out in this window)."""
    now = now or utcnow()
    policy.require(policy.reminds_organizations(actor))
    async with db.write() as session:
        task = await session.get(OrganizationTask, task_id)
        if task is None:
            raise NotFound("No such organization task.")
        campaign = await editable_campaign(session, actor, task.campaign_id)
        if campaign.status != "active":
            raise Conflict("Only an active campaign can send reminders.", code="wrong_status")
        if task.status in ("passed_on", "declined"):
            raise Conflict("This organization has acted on it already.", code="acted")
        window = int(now.timestamp()) // MANUAL_WINDOW
        queued = await queue_reminder(session, task, f"manual-{window}", now)
        if queued:
            audit(
                session, actor, "organization_task.remind", "organization_task", task_id, n=queued
            )
    return task.campaign_id, queued


async def campaign_of(db: Database, task_id: int) -> int:
    """The campaign an organization task belongs to (the caller saw the campaign already)."""
    async with db.read() as session:
        task = await session.get(OrganizationTask, task_id)
        if task is None:
            raise NotFound("No such organization task.")
        return task.campaign_id
