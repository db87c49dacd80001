"""Campaigns delivered through organizations (delivery mode `org`).

A launch hands the campaign to each targeted organization as an organization task, sent to its
focal points in Telegram. A focal point receives it, passes it on to the organization's own
members (by DM), its clubs, its group chats and/or its sub-organizations (which get tasks of
their own: the cascade goes down the tree), or says it cannot. Each pass-on choice creates the
assignments exactly as a direct launch does (`launch.assign`), once: the task row is locked and
remembers the choices applied, so a second or concurrent press changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, func, literal
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.base import UTCDateTime
from coordinator.campaigns import cascade_messages
from coordinator.campaigns.launch import assign, eligible_groups, eligible_members
from coordinator.campaigns.models import (
    PASS_ON_CHOICES,
    Campaign,
    CampaignTarget,
    OrganizationTask,
)
from coordinator.db import upsert_insert
from coordinator.errors import Conflict, Forbidden
from coordinator.organizations import focal_points
from coordinator.organizations.models import Club, FocalPoint, GroupChat, Member, Organization

DECLINE_REASONS = ("busy", "unfit", "other")


@dataclass(frozen=True)
class TaskOutcome:
    """What an action did: `changed` False when it had been done before (a repeat press)."""

    task: OrganizationTask
    changed: bool
    created: int = 0  # assignments or sub-organization tasks it wrote


async def write_organization_tasks(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    """One task per targeted organization, sent to its focal points; how many were new."""
    assert campaign.id is not None
    targeted = select(CampaignTarget.organization_id).where(
        CampaignTarget.campaign_id == campaign.id,
        col(CampaignTarget.organization_id).is_not(None),
    )
    return await _insert_tasks(session, campaign, targeted, None, now)


async def _insert_tasks(
    session: AsyncSession, campaign: Campaign, orgs: Any, parent: int | None, now: datetime
) -> int:
    rows: Any = select(  # type: ignore[call-overload]
        literal(campaign.id),
        Organization.id,
        literal(parent),
        literal("pending"),
        literal([], JSON()),
        literal(now, UTCDateTime()),
    ).where(col(Organization.id).in_(orgs))
    columns = ["campaign_id", "organization_id", "parent_task_id", "status", "passed_on_how"]
    statement = upsert_insert(session)(OrganizationTask).from_select([*columns, "created_at"], rows)
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["campaign_id", "organization_id"])
    )
    created = int(getattr(result, "rowcount", 0) or 0)
    if created:
        await cascade_messages.notify_focal_points(session, campaign, parent, now)
    return created


async def reach(session: AsyncSession, org_ids: set[int]) -> dict[int, tuple[int, int]]:
    """(members, group chats) each organization can reach itself, for the task's message."""
    members = await session.execute(
        select(Member.organization_id, func.count())
        .where(*eligible_members(org_ids, set()))
        .group_by(col(Member.organization_id))
    )
    groups = await session.execute(
        select(GroupChat.organization_id, func.count())
        .where(*eligible_groups(org_ids, set()))
        .group_by(col(GroupChat.organization_id))
    )
    m = {int(o): int(n) for o, n in members.all()}
    g = {int(o): int(n) for o, n in groups.all()}
    return {o: (m.get(o, 0), g.get(o, 0)) for o in org_ids}


async def without_focal_point(session: AsyncSession, org_ids: set[int]) -> list[Organization]:
    """The organizations among these that no linked (active, in Telegram) focal point serves."""
    unserved = await focal_points.unserved_ids(session, org_ids)
    found = await session.scalars(
        select(Organization)
        .where(col(Organization.id).in_(unserved))
        .order_by(col(Organization.name))
    )
    return list(found)


async def _task_for(session: AsyncSession, task_id: int, user_id: int | None) -> OrganizationTask:
    """The task, locked; `user_id` must be one of its organization's focal points (None: the
    caller checked the right already, e.g. a coordinator on the web)."""
    task = await session.get(
        OrganizationTask, task_id, with_for_update=True, populate_existing=True
    )
    if task is None:
        raise Forbidden("No such organization task.", code="no_task")
    if user_id is not None:
        focal = await session.get(FocalPoint, (task.organization_id, user_id))
        if focal is None:
            raise Forbidden("Only the organization's focal points can act on it.", code="not_focal")
    # FOR SHARE: a close waits until this step has committed, and then expires what it
    # assigned and withdraws its cards; a plain read let a pass-on still writing when the
    # campaign closed queue tasks to volunteers of a closed campaign (PostgreSQL).
    campaign = await session.get(
        Campaign, task.campaign_id, with_for_update={"read": True}, populate_existing=True
    )
    if campaign is None or campaign.status != "active":
        raise Conflict("The campaign is not running.", code="campaign_not_active")
    return task


async def check_focal(session: AsyncSession, task_id: int, user_id: int) -> None:
    """Refuse (as `_task_for` does) unless the user may act on the running task."""
    await _task_for(session, task_id, user_id)


async def receive(
    session: AsyncSession, task_id: int, user_id: int | None, now: datetime
) -> TaskOutcome:
    task = await _task_for(session, task_id, user_id)
    if task.received_at is not None:
        return TaskOutcome(task, False)
    task.received_at = now
    if task.status == "pending":
        task.status = "received"
    task.acted_by_user_id = user_id or task.acted_by_user_id
    return TaskOutcome(task, True)


async def decline(
    session: AsyncSession, task_id: int, user_id: int | None, reason: str, now: datetime
) -> TaskOutcome:
    """Can't: only while nothing was passed on yet; the first reason stays."""
    task = await _task_for(session, task_id, user_id)
    if task.status in ("declined", "passed_on"):
        return TaskOutcome(task, False)
    task.status, task.declined_at = "declined", now
    task.decline_reason = reason.strip()[:1000] or "other"
    task.acted_by_user_id = user_id
    return TaskOutcome(task, True)


async def pass_on(
    session: AsyncSession, task_id: int, user_id: int | None, choice: str, now: datetime
) -> TaskOutcome:
    """Apply one pass-on choice, once, whoever presses."""
    if choice not in PASS_ON_CHOICES:
        raise Conflict("No such way to pass it on.", code="no_choice")
    task = await _task_for(session, task_id, user_id)
    if choice in task.passed_on_how:
        return TaskOutcome(task, False)
    campaign = await session.get(Campaign, task.campaign_id)
    assert campaign is not None and campaign.id is not None
    org = task.organization_id
    if choice == "members":
        created = await assign(session, campaign.id, "dm", {org}, set(), now, only_these=True)
    elif choice == "clubs":
        clubs = set(await session.scalars(select(Club.id).where(Club.organization_id == org)))
        created = await assign(session, campaign.id, "dm", set(), clubs, now, only_these=True)
    elif choice == "groups":
        created = await assign(session, campaign.id, "group", {org}, set(), now, only_these=True)
    else:
        children = select(Organization.id).where(Organization.parent_id == org)
        created = await _insert_tasks(session, campaign, children, task.id, now)
    task.passed_on_how = [c for c in PASS_ON_CHOICES if c in {*task.passed_on_how, choice}]
    if task.passed_on_at is None:
        task.passed_on_at = now
    task.received_at = task.received_at or now
    task.status = "passed_on"
    task.decline_reason, task.declined_at = None, None
    task.acted_by_user_id = user_id or task.acted_by_user_id
    return TaskOutcome(task, True, created)
