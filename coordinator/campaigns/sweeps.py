"""The scheduler's work, as idempotent sweeps over due rows.

The database is the source of truth: a sweep run twice, run by a second process, or run again
after a crash half-way changes nothing the first run did. Each campaign is handled in its own
transaction, and every reminder has a dedupe key (campaign step + assignment).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from coordinator.auth.scope import SYSTEM
from coordinator.campaigns import escalation, fairload, launch, lifecycle, reminders
from coordinator.campaigns.models import Campaign, HeldTask
from coordinator.db import Database
from coordinator.errors import DomainError

logger = logging.getLogger("coordinator.scheduler")
QUIET_FROM, QUIET_UNTIL = 22, 7  # local hours


def in_quiet_hours(moment: datetime, tz: ZoneInfo) -> bool:
    hour = moment.astimezone(tz).hour
    return hour >= QUIET_FROM or hour < QUIET_UNTIL


def due_reminder_step(campaign: Campaign, now: datetime) -> int | None:
    """The reminder step (hours before the deadline) due now, if any: the nearest one that has
    come, and only steps that fall after the launch (no reminder right on top of the task)."""
    if campaign.launched_at is None or now >= campaign.deadline_at:
        return None
    due = [
        hours
        for hours in campaign.reminder_hours
        if campaign.launched_at < campaign.deadline_at - timedelta(hours=hours) <= now
    ]
    return min(due) if due else None


@dataclass
class SweepReport:
    launched: list[int] = field(default_factory=list)
    reminded: dict[int, int] = field(default_factory=dict)  # campaign -> reminders queued
    closed: list[int] = field(default_factory=list)
    # organization task -> the time-limit step taken (remind / escalate / auto_pass_on)
    org_steps: dict[int, str] = field(default_factory=dict)
    released: dict[int, int] = field(default_factory=dict)  # campaign -> held tasks released
    failed: dict[int, str] = field(default_factory=dict)


async def _ids(db: Database, *where: Any) -> list[int]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(select(Campaign.id).where(*where).order_by(col(Campaign.id)))
            ).all()
        )


async def launch_due(db: Database, now: datetime, report: SweepReport) -> None:
    for campaign_id in await _ids(
        db, col(Campaign.status) == "scheduled", col(Campaign.launch_at) <= now
    ):
        try:
            await lifecycle.launch_campaign(db, None, campaign_id, now)
            report.launched.append(campaign_id)
        except DomainError as exc:  # e.g. the agreement lapsed: stays scheduled, said each tick
            report.failed[campaign_id] = exc.detail
            logger.warning("campaign %s could not launch: %s", campaign_id, exc.detail)


async def remind_due(db: Database, now: datetime, tz: ZoneInfo, report: SweepReport) -> None:
    async with db.read() as session:
        active = (
            await session.scalars(
                select(Campaign).where(
                    col(Campaign.status) == "active", col(Campaign.deadline_at) > now
                )
            )
        ).all()
    quiet = in_quiet_hours(now, tz)
    for campaign in active:
        step = due_reminder_step(campaign, now)
        if step is None or (quiet and not campaign.remind_in_quiet_hours):
            continue  # in quiet hours the step waits for 07:00 (if the deadline allows)
        assert campaign.id is not None
        try:
            queued = await reminders.remind_not_done(db, SYSTEM, campaign.id, f"{step}h", now)
        except DomainError as exc:  # closed or cancelled since it was read: the others go on
            logger.info("campaign %s not reminded: %s", campaign.id, exc.detail)
            continue
        if queued:
            report.reminded[campaign.id] = queued


async def escalate_due(db: Database, now: datetime, tz: ZoneInfo, report: SweepReport) -> None:
    """Organization tasks nobody acted on: remind, tell the parent organization, pass it on
    (`escalation`), one batch per campaign and step; in quiet hours a step waits for 07:00
    unless the campaign allows."""
    quiet = in_quiet_hours(now, tz)
    batches: dict[tuple[int, str], list[int]] = {}
    for due in await escalation.due_steps(db, now):
        if not quiet or due.quiet_ok:
            batches.setdefault((due.campaign_id, due.step), []).append(due.task_id)
    for (_, step), task_ids in batches.items():
        for task_id in await escalation.take_steps(db, step, task_ids, now):
            report.org_steps[task_id] = step


async def close_due(db: Database, now: datetime, report: SweepReport) -> None:
    """At the deadline a campaign closes: open tasks expire, unsent messages are withdrawn."""
    for campaign_id in await _ids(
        db, col(Campaign.status) == "active", col(Campaign.deadline_at) <= now
    ):
        try:
            await lifecycle.close_campaign(db, SYSTEM, campaign_id, now)
        except DomainError as exc:  # cancelled since it was read: the others still close
            logger.info("campaign %s not closed: %s", campaign_id, exc.detail)
            continue
        report.closed.append(campaign_id)


async def release_due(db: Database, now: datetime, tz: ZoneInfo, report: SweepReport) -> None:
    """Fair load: tasks held back in an earlier week go out to the volunteers now under their
    weekly cap, while the campaign runs; the others wait for the next week."""
    start, _ = fairload.week_of(now, tz)
    waiting = select(HeldTask.campaign_id).where(col(HeldTask.held_at) < start)
    for campaign_id in await _ids(
        db,
        col(Campaign.status) == "active",
        col(Campaign.deadline_at) > now,
        col(Campaign.id).in_(waiting),
    ):
        async with db.write() as session:
            released = await launch.release_held(session, campaign_id, now)
        if released:
            report.released[campaign_id] = released


async def sweep(db: Database, now: datetime, tz: ZoneInfo) -> SweepReport:
    """One scheduler tick: launch what is due, release held tasks, remind, take the
    organization tasks' time-limit steps, then close what has passed its deadline."""
    report = SweepReport()
    await launch_due(db, now, report)
    await release_due(db, now, tz, report)
    await remind_due(db, now, tz, report)
    await escalate_due(db, now, tz, report)
    await close_due(db, now, report)
    return report
