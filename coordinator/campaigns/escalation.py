"""Time limits of organization tasks (delivery mode `org`): when an organization's focal points
have not acted (received, passed on, or can't), the scheduler reminds them, then tells the
parent organization's focal points, then, if the campaign asks for it, passes the task on to
all the organization's members, exactly as a focal point's "all members" press does.

Each step is taken once: a conditional UPDATE stamps the task (`reminded_at`, `escalated_at`,
`auto_passed_on_at`) only while it is still pending and unstamped, and only the transaction
whose UPDATE changed the row (RETURNING says which) queues the messages, each with a dedupe
key as well. Two sweeps racing, on two processes, leave one stamp and one set of messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
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
from coordinator.errors import Conflict, DomainError, NotFound
from coordinator.i18n import translate as _
from coordinator.organizations import focal_points
from coordinator.organizations.models import Organization

logger = logging.getLogger("coordinator.scheduler")
STAMPS = {"remind": "reminded_at", "escalate": "escalated_at", "auto_pass_on": "auto_passed_on_at"}
HOURS = {
    "remind": "org_remind_after_hours",
    "escalate": "org_escalate_after_hours",
    "auto_pass_on": "org_auto_pass_on_after_hours",
}
_IDS_AT_ONCE = 5_000  # task ids per UPDATE (both drivers cap bound values)
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
    campaign_id: int
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
            due.append(Due(task.campaign_id, task.id, step, campaign.remind_in_quiet_hours))
    return due


async def _claim(session: AsyncSession, task_ids: list[int], step: str, now: datetime) -> list[int]:
    """Stamp the step on those of these tasks still pending and unstamped; the ids this
    transaction stamped (on PostgreSQL a racing UPDATE waits for the row, then finds the
    stamp and leaves it: each task is claimed by one transaction only)."""
    stamp = getattr(OrganizationTask, STAMPS[step])
    claimed: list[int] = []
    for start in range(0, len(task_ids), _IDS_AT_ONCE):
        result = await session.execute(
            update(OrganizationTask)
            .where(
                col(OrganizationTask.id).in_(task_ids[start : start + _IDS_AT_ONCE]),
                col(OrganizationTask.status) == "pending",
                col(stamp).is_(None),
            )
            .values({STAMPS[step]: now})
            .returning(col(OrganizationTask.id))
        )
        claimed += [i for i in result.scalars() if i is not None]
    return sorted(claimed)


async def take_steps(db: Database, step: str, task_ids: list[int], now: datetime) -> list[int]:
    """Take one step for these tasks (of one campaign): the ids it took, leaving out those
    another sweep, or a focal point's press, came to first. Reminders and notes go in one
    transaction; each automatic pass-on in its own, as a focal point's press would."""
    if step == "auto_pass_on":
        taken = []
        for task_id in task_ids:
            try:
                taken.append(await db.transaction(partial(_pass_on, task_id, now)))
            except DomainError as exc:  # e.g. closed meanwhile: nothing stamped, nothing sent
                logger.warning("organization task %s not passed on: %s", task_id, exc.detail)
        return [task_id for task_id in task_ids if task_id in taken]

    async def run(session: AsyncSession) -> list[int]:
        claimed = await _claim(session, task_ids, step, now)
        if not claimed:
            return []
        if step == "remind":
            await queue_reminders(session, claimed, "auto", now)
        else:
            await queue_escalations(session, claimed, now)
        for task_id in claimed:
            audit(session, SYSTEM, f"organization_task.{step}", "organization_task", task_id)
        return claimed

    return await db.transaction(run)


async def _pass_on(task_id: int, now: datetime, session: AsyncSession) -> int | None:
    """The focal point's own "all members" choice, with nobody behind it."""
    if not await _claim(session, [task_id], "auto_pass_on", now):
        return None
    outcome = await cascade.pass_on(session, task_id, None, "members", now)
    audit(
        session,
        SYSTEM,
        "organization_task.auto_pass_on",
        "organization_task",
        task_id,
        created=outcome.created,
    )
    return task_id


async def _tasks(
    session: AsyncSession, task_ids: list[int]
) -> list[tuple[OrganizationTask, Campaign, Organization]]:
    rows = await session.execute(
        select(OrganizationTask, Campaign, Organization)
        .join(Campaign, col(Campaign.id) == OrganizationTask.campaign_id)
        .join(Organization, col(Organization.id) == OrganizationTask.organization_id)
        .where(col(OrganizationTask.id).in_(task_ids))
        .order_by(col(OrganizationTask.id))
        .execution_options(populate_existing=True)
    )
    return [(t, c, o) for t, c, o in rows.all()]


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


async def queue_reminders(
    session: AsyncSession, task_ids: list[int], step: str, now: datetime
) -> int:
    """A reminder to each linked focal point of each task's organization, with the task's
    buttons; once per `step` (the sweep's "auto", or a manual window) and focal point."""
    tasks = await _tasks(session, task_ids)
    focal = await focal_points.linked(session, {t.organization_id for t, _, _ in tasks})
    messages = [
        _message(
            f"orgremind:{task.id}:{step}:{user.id}",
            user.telegram_user_id or 0,
            reminder_text(user.locale, organization.name, campaign),
            now,
            (user.locale, cascade_messages.buttons(task, user.locale)),
        )
        for task, campaign, organization in tasks
        for org, user in focal
        if org == task.organization_id
    ]
    return await queue_once(session, messages)


async def queue_escalations(session: AsyncSession, task_ids: list[int], now: datetime) -> int:
    """A note to the parent organization's linked focal points, for each task (none at the
    top of the tree: the step is still recorded and audited)."""
    tasks = await _tasks(session, task_ids)
    parents = {o.parent_id for _, _, o in tasks if o.parent_id is not None}
    focal = await focal_points.linked(session, parents)
    messages = [
        _message(
            f"orgescalate:{task.id}:{user.id}",
            user.telegram_user_id or 0,
            escalation_text(user.locale, organization.name, campaign, task.created_at),
            now,
        )
        for task, campaign, organization in tasks
        for org, user in focal
        if org == organization.parent_id
    ]
    return await queue_once(session, messages)


def _message(
    key: str, chat: int, text: str, now: datetime, markup: tuple[str, Any] | None = None
) -> OutboxMessage:
    payload: dict[str, Any] = {"text": text}
    if markup is not None:  # the sender shows the buttons in the focal point's language
        payload.update(locale=markup[0], markup=markup[1])
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
        queued = await queue_reminders(session, [task_id], f"manual-{window}", now)
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
