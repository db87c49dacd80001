"""The guarded moves of a campaign: schedule, launch, close and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import SYSTEM, Actor
from coordinator.base import utcnow
from coordinator.campaigns import approvals, cascade, launch_parts, party_rule
from coordinator.campaigns import launch as materialize
from coordinator.campaigns.drafting import agreement_for
from coordinator.campaigns.models import Assignment, Campaign, CampaignTarget, ContentItem
from coordinator.campaigns.states import OPEN_ASSIGNMENT
from coordinator.db import Database
from coordinator.delivery.backlog import drop_backlog
from coordinator.delivery.queue import withdraw_cards
from coordinator.errors import Invalid, field_error


async def _check_ready(
    session: AsyncSession, actor: Actor, campaign: Campaign, now: datetime, start: datetime
) -> None:
    """What must hold before a campaign may be scheduled or launched (to run from `start`)."""
    assert campaign.id is not None
    errors = []
    if not await session.scalar(
        select(ContentItem.id).where(ContentItem.campaign_id == campaign.id).limit(1)
    ):
        errors.append(field_error("content", "add at least one content item"))
    if not await session.scalar(
        select(CampaignTarget.id).where(CampaignTarget.campaign_id == campaign.id).limit(1)
    ):
        errors.append(field_error("targets", "pick at least one organization or club"))
    if campaign.deadline_at <= now:
        errors.append(field_error("deadline_at", "the deadline has passed"))
    if errors:
        raise Invalid("The campaign is not ready.", errors=errors, code="not_ready")
    await agreement_for(session, actor, campaign.agreement_id, start, campaign.deadline_at)
    await party_rule.require_within_reach(session, campaign)


async def _move(session: AsyncSession, campaign: Campaign, move: str) -> None:
    """The state machine's move; a party's draft needs the lead's approval (`approvals`)."""
    await approvals.move(session, campaign, move)


async def schedule_campaign(
    db: Database, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    now = now or utcnow()
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        await _move(session, campaign, "schedule")
        await _check_ready(session, actor, campaign, now, campaign.launch_at)
        audit(session, actor, "campaign.schedule", "campaign", campaign_id)
    return campaign


@dataclass
class LaunchResult:
    campaign: Campaign
    created: int


async def launch_campaign(
    db: Database, actor: Actor | None, campaign_id: int, now: datetime | None = None
) -> LaunchResult:
    """Make the campaign active and write its assignments and task cards.

    One transaction, except a big first launch on PostgreSQL, whose tasks are written in
    parts side by side before the last transaction makes the campaign active and queues the
    cards (`launch_parts`; a crash part-way leaves the campaign as it was, inert). Launches of
    one campaign take turns. Launching again (an active campaign) adds only members who became
    eligible since; with nothing new it changes nothing. `actor=None` is the scheduler.
    """
    now = now or utcnow()
    acting = actor or SYSTEM
    async with db.turns(_LAUNCH_TURNS, campaign_id):
        split = await _split(db, acting, campaign_id, now)
        written = await launch_parts.write(db, campaign_id, split, now) if split else 0

        async def launch(session: AsyncSession) -> LaunchResult:
            campaign = await scope.editable_campaign(session, acting, campaign_id)
            was = campaign.status
            await _move(session, campaign, "launch")
            # Launching early needs the agreement to be valid already today.
            await _check_ready(session, acting, campaign, now, min(now, campaign.launch_at))
            first = was != "active"
            if first:
                campaign.launched_at = now
            if split is not None:  # the parts wrote the tasks (and dropped what was left)
                created = written
                await materialize.queue_pending_cards(session, campaign_id, "dm", 0, now)
                return _launched(session, actor, campaign, created)
            if first:
                await materialize.drop_leftovers(session, campaign)
            if campaign.delivery_mode == "org":
                created = await cascade.write_organization_tasks(session, campaign, now)
            else:
                created = await materialize.write_assignments(session, campaign, now, first=first)
            return _launched(session, actor, campaign, created)

        # A launch and the sender both lock tally summary lines: if PostgreSQL picks the launch
        # as a deadlock's victim, it runs again rather than fail in the coordinator's hands.
        return await db.transaction(launch)


_LAUNCH_TURNS = 1_402_208  # `Database.turns` key of launches, with the campaign's id


def _launched(
    session: AsyncSession, actor: Actor | None, campaign: Campaign, created: int
) -> LaunchResult:
    audit(session, actor, "campaign.launch", "campaign", campaign.id, created=created)
    return LaunchResult(campaign, created)


async def _split(
    db: Database, actor: Actor, campaign_id: int, now: datetime
) -> launch_parts.Split | None:
    """The parts of a big first launch (None: one transaction), once the launch is known to
    be allowed, with what an interrupted launch left and the campaign no longer wants gone."""
    if db.dialect != "postgresql":  # SQLite's one writer would write the parts in turn
        return None
    async with db.read() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        if not launch_parts.may_split(campaign):
            return None
        await approvals.allowed_move(session, campaign, "launch")
        await _check_ready(session, actor, campaign, now, min(now, campaign.launch_at))
        split = await launch_parts.plan(session, campaign, now)
    if split is None:
        return None
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        await materialize.drop_leftovers(session, campaign)
    return split


async def _finish(
    db: Database, actor: Actor, campaign_id: int, move: str, now: datetime | None
) -> Campaign:
    """Close or cancel: open assignments expire, unsent messages are withdrawn."""
    now = now or utcnow()
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        was = campaign.status
        await _move(session, campaign, move)
        if was == campaign.status:
            return campaign
        campaign.closed_at = now
        await drop_backlog(session, campaign_id)  # first: see its docstring
        await session.execute(
            update(Assignment)
            .where(
                col(Assignment.campaign_id) == campaign_id,
                col(Assignment.status).in_(OPEN_ASSIGNMENT),
            )
            .values(status="expired", expired_at=now)
        )
        await withdraw_cards(
            session,
            select(Assignment.id).where(Assignment.campaign_id == campaign_id),
            f"campaign {campaign.status}",
        )
        audit(session, actor, f"campaign.{move}", "campaign", campaign_id)
    return campaign


async def close_campaign(
    db: Database, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    return await _finish(db, actor, campaign_id, "close", now)


async def cancel_campaign(
    db: Database, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    return await _finish(db, actor, campaign_id, "cancel", now)
