"""Approval under the agreement: a party's draft is submitted to the lead organization, whose
coordinators (or an admin) approve it or return it with a comment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.models import User
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns.models import Campaign
from coordinator.campaigns.states import campaign_move, wrong_status
from coordinator.db import Database
from coordinator.delivery.queue import queue_text
from coordinator.errors import Conflict, Invalid, NotFound, field_error
from coordinator.i18n import translate
from coordinator.organizations.models import Agreement

COMMENT_MAX = 2000
TOLD = {"approve": "Your campaign was approved.", "return": "Your campaign was returned."}


async def needs_approval(session: AsyncSession, campaign: Campaign) -> bool:
    """Whether the campaign waits for its agreement's lead: its drafter, unless an admin, belongs
    to another organization than the lead."""
    if campaign.created_by_user_id is None:
        return False
    drafter = await session.get(User, campaign.created_by_user_id)
    agreement = await session.get(Agreement, campaign.agreement_id)
    if drafter is None or agreement is None or drafter.role == "admin":
        return False
    return drafter.organization_id != agreement.lead_organization_id


async def move(session: AsyncSession, campaign: Campaign, name: str) -> None:
    """Apply a move of the state machine, refusing it as the campaign's approval requires."""
    campaign.status = await allowed_move(session, campaign, name)


async def allowed_move(session: AsyncSession, campaign: Campaign, name: str) -> str:
    """The status the move leads to, without making it; raises the move's refusal."""
    gated = campaign.status == "draft" and await needs_approval(session, campaign)
    target = campaign_move(campaign.status, name, gated)
    if target is None:
        if gated and name in ("schedule", "launch"):
            raise Conflict(
                "This campaign needs the approval of the agreement's lead organization first.",
                code="needs_approval",
            )
        raise wrong_status(campaign.status, name)
    return target


async def _lead_of(session: AsyncSession, campaign: Campaign) -> int:
    agreement = await session.get(Agreement, campaign.agreement_id)
    if agreement is None:
        raise NotFound(f"Campaign {campaign.id} not found.")
    return agreement.lead_organization_id


async def submit_campaign(
    db: Database, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    now = now or utcnow()
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        if not await needs_approval(session, campaign):
            raise Conflict(
                "This campaign needs no approval: schedule or launch it.", code="no_approval"
            )
        await move(session, campaign, "submit")
        campaign.submitted_at = now
        lead = await _lead_of(session, campaign)
        approvers = (
            await session.scalars(
                select(User).where(
                    col(User.organization_id) == lead,
                    col(User.role) == "coordinator",
                    col(User.active).is_(True),
                )
            )
        ).all()
        title = escape(campaign.title)
        text = f"📝 {title}\n{{waiting}}\n/campaigns/{campaign_id}"
        for user in approvers:
            if user.telegram_user_id is not None:
                waiting = translate(user.locale, "A campaign waits for your approval.")
                await queue_text(
                    session,
                    user.telegram_user_id,
                    f"approval:{campaign_id}:{now.isoformat()}:{user.id}",
                    text.format(waiting=waiting),
                    now,
                )
        audit(session, actor, "campaign.submit", "campaign", campaign_id, lead=lead)
    return campaign


async def _review(
    db: Database, actor: Actor, campaign_id: int, name: str, comment: str, now: datetime | None
) -> Campaign:
    now = now or utcnow()
    comment = comment.strip()
    if len(comment) > COMMENT_MAX or (name == "return" and not comment):
        raise Invalid(
            "The comment cannot be saved.",
            errors=[field_error("comment", "1-{limit} characters", limit=COMMENT_MAX)],
        )
    async with db.write() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        policy.require(
            policy.approves_for(actor, await _lead_of(session, campaign)),
            "Only coordinators of the agreement's lead organization approve its campaigns.",
        )
        await move(session, campaign, name)
        campaign.reviewed_by_user_id = actor.user_id
        campaign.reviewed_at = now
        campaign.review_comment = comment or None
        drafter = (
            await session.get(User, campaign.created_by_user_id)
            if campaign.created_by_user_id
            else None
        )
        if drafter is not None and drafter.telegram_user_id is not None:
            told = TOLD[name]
            await queue_text(
                session,
                drafter.telegram_user_id,
                f"review:{campaign_id}:{now.isoformat()}",
                f"{escape(campaign.title)}\n{translate(drafter.locale, told)}\n{escape(comment)}",
                now,
            )
        action = "campaign.approve" if name == "approve" else "campaign.return"
        audit(session, actor, action, "campaign", campaign_id, comment=comment)
    return campaign


async def approve_campaign(
    db: Database, actor: Actor, campaign_id: int, comment: str = "", now: datetime | None = None
) -> Campaign:
    return await _review(db, actor, campaign_id, "approve", comment, now)


async def return_campaign(
    db: Database, actor: Actor, campaign_id: int, comment: str, now: datetime | None = None
) -> Campaign:
    """Back to a draft that its drafter can change and submit again; the comment stays."""
    return await _review(db, actor, campaign_id, "return", comment, now)


async def waiting_for(db: Database, actor: Actor, limit: int = 20) -> list[Campaign]:
    """Submitted campaigns this actor may approve (the dashboard's list), oldest first."""
    if not policy.runs_campaigns(actor):
        return []
    stmt = (
        select(Campaign)
        .join(Agreement, col(Agreement.id) == Campaign.agreement_id)
        .where(col(Campaign.status) == "submitted")
        .order_by(col(Campaign.submitted_at), col(Campaign.id))
        .limit(limit)
    )
    if not actor.is_admin:
        stmt = stmt.where(col(Agreement.lead_organization_id) == actor.organization_id)
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())


@dataclass(frozen=True)
class Approval:
    """What the campaign's pages show about its approval."""

    needed: bool  # drafted by a party that is not the lead
    may_review: bool  # this actor may approve or return it


async def approval_of(db: Database, actor: Actor, campaign: Campaign) -> Approval:
    async with db.read() as session:
        needed = await needs_approval(session, campaign)
        lead = await _lead_of(session, campaign)
    return Approval(needed, needed and policy.approves_for(actor, lead))
