"""Naming focal points, and a focal point's actions on the web (the same steps as the bot's)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.audit import audit
from coordinator.auth.models import User
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns import cascade
from coordinator.campaigns.cascade_messages import task_text
from coordinator.campaigns.models import Campaign, CampaignTarget, OrganizationTask
from coordinator.db import Database
from coordinator.errors import Invalid, NotFound, field_error
from coordinator.organizations.models import FocalPoint


async def set_focal_points(
    db: Database,
    actor: Actor | None,
    organization_id: int,
    user_ids: Iterable[int],
    agreement_id: int | None = None,
) -> list[int]:
    """The organization's focal points become exactly these users, all of that organization.
    `actor=None`: the system (imports, tests); `agreement_id`: the page it was done from, on
    record with who was named before and after."""
    if actor is not None:
        policy.require(
            policy.names_focal_points(actor, organization_id), policy.FOCAL_POINTS_REFUSED
        )
    wanted = sorted(set(user_ids))
    async with db.write() as session:
        found = set(
            await session.scalars(
                select(User.id).where(
                    col(User.id).in_(wanted), User.organization_id == organization_id
                )
            )
        )
        if found != set(wanted):
            raise Invalid(
                "Focal points must be users of the organization.",
                errors=[field_error("user_ids", "users of this organization")],
            )
        before = sorted(
            await session.scalars(
                select(FocalPoint.user_id).where(FocalPoint.organization_id == organization_id)
            )
        )
        await session.execute(
            delete(FocalPoint).where(col(FocalPoint.organization_id) == organization_id)
        )
        for user_id in wanted:
            session.add(FocalPoint(organization_id=organization_id, user_id=user_id))
        audit(
            session,
            actor,
            "organization.focal_points",
            "organization",
            organization_id,
            before=before,
            focal_points=wanted,
            agreement_id=agreement_id,
        )
    return wanted


async def act(
    db: Database,
    actor: Actor,
    task_id: int,
    step: str,
    reason: str = "",
    now: datetime | None = None,
) -> cascade.TaskOutcome:
    """A focal point's step on the web: `received`, `decline` (with a reason) or a pass-on
    choice (`members`, `clubs`, `groups`, `suborgs`)."""
    now = now or utcnow()
    user = actor.user_id

    async def run(session: AsyncSession) -> cascade.TaskOutcome:
        if step == "received":
            outcome = await cascade.receive(session, task_id, user, now)
        elif step == "decline":
            outcome = await cascade.decline(session, task_id, user, reason or "other", now)
        else:
            outcome = await cascade.pass_on(session, task_id, user, step, now)
        if outcome.changed:
            audit(session, actor, f"organization_task.{step}", "organization_task", task_id)
        return outcome

    return await db.transaction(run)


async def handed_to(
    db: Database, actor: Actor, campaign_id: int, lang: str
) -> tuple[Campaign, list[OrganizationTask], dict[int | None, str]]:
    """The campaign as handed to the organizations this user is a focal point of: the
    campaign, its tasks for them, and each task's text; NotFound when none was handed."""
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        tasks = list(
            await session.scalars(
                select(OrganizationTask)
                .join(
                    FocalPoint,
                    col(FocalPoint.organization_id) == OrganizationTask.organization_id,
                )
                .where(
                    OrganizationTask.campaign_id == campaign_id,
                    FocalPoint.user_id == actor.user_id,
                )
                .order_by(col(OrganizationTask.id))
            )
        )
        if campaign is None or not tasks:
            raise NotFound("No campaign was handed to your organization.")
        texts = {t.id: await task_text(session, t, lang) for t in tasks}
    return campaign, tasks, texts


async def tasks_of(db: Database, campaign_id: int) -> list[OrganizationTask]:
    async with db.read() as session:
        found = await session.scalars(
            select(OrganizationTask)
            .where(OrganizationTask.campaign_id == campaign_id)
            .order_by(col(OrganizationTask.id))
        )
        return list(found)


async def unserved_targets(db: Database, campaign_id: int) -> list[str]:
    """Names of the targeted organizations no linked focal point serves: a campaign handed to
    them through organizations reaches nobody until one is named."""
    async with db.read() as session:
        targeted = set(
            await session.scalars(
                select(CampaignTarget.organization_id).where(
                    CampaignTarget.campaign_id == campaign_id,
                    col(CampaignTarget.organization_id).is_not(None),
                )
            )
        )
        return [o.name for o in await cascade.without_focal_point(session, targeted)]
