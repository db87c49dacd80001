"""Campaigns from campaigns: duplicate one, keep one as a template, start one from a template."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import row_id
from coordinator.campaigns.drafting import CampaignDraft, follow_targets, new_campaign
from coordinator.campaigns.models import Campaign, CampaignTarget, CampaignTemplate, ContentItem
from coordinator.db import Database
from coordinator.errors import Invalid, NotFound
from coordinator.organizations.models import Agreement

SETTINGS = (
    "quota_percent",
    "ask_share_percent",
    "delivery_mode",
    "proof_requested",
    "reminder_hours",
    "remind_in_quiet_hours",
    "paid_broadcast",
    "org_remind_after_hours",
    "org_escalate_after_hours",
    "org_auto_pass_on_after_hours",
)
ITEM_FIELDS = ("url", "kind", "actions", "suggested_caption", "channel_id")


@dataclass
class NewDates:
    """What a copy asks for: its title and its own dates (the browser's `not_before` too)."""

    title: str
    launch_at: datetime
    deadline_at: datetime
    not_before: datetime | None = None


@dataclass
class Snapshot:
    agreement_id: int
    title: str
    brief: str
    settings: dict[str, Any]
    items: list[dict[str, Any]]
    targets: dict[str, list[int]]


async def _snapshot(session: AsyncSession, campaign: Campaign) -> Snapshot:
    items = (
        await session.scalars(
            select(ContentItem)
            .where(ContentItem.campaign_id == campaign.id)
            .order_by(col(ContentItem.position))
        )
    ).all()
    targets = (
        await session.scalars(
            select(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
        )
    ).all()
    return Snapshot(
        agreement_id=campaign.agreement_id,
        title=campaign.title,
        brief=campaign.brief,
        settings={
            **{name: getattr(campaign, name) for name in SETTINGS},
            # An automatic mode stays automatic: the copy's mode follows its own targets.
            **({"delivery_mode": None} if campaign.delivery_mode_auto else {}),
        },
        items=[{name: getattr(i, name) for name in ITEM_FIELDS} for i in items],
        targets={
            "organization_ids": sorted(t.organization_id for t in targets if t.organization_id),
            "club_ids": sorted(t.club_id for t in targets if t.club_id),
        },
    )


async def _create_from(
    session: AsyncSession, actor: Actor, source: Snapshot, dates: NewDates
) -> Campaign:
    """A new draft with the source's brief, settings, content and targets, on new dates."""
    settings = {k: v for k, v in source.settings.items() if k in SETTINGS}
    draft = CampaignDraft(
        agreement_id=source.agreement_id,
        title=dates.title,
        brief=source.brief,
        launch_at=dates.launch_at,
        deadline_at=dates.deadline_at,
        not_before=dates.not_before,
        **settings,
    )
    campaign = await new_campaign(session, actor, draft)
    cid = row_id(campaign)
    session.add_all(
        ContentItem(
            campaign_id=cid,
            position=n,
            **{k: v for k, v in item.items() if k in ITEM_FIELDS},
        )
        for n, item in enumerate(source.items)
    )
    session.add_all(
        CampaignTarget(campaign_id=cid, organization_id=o)
        for o in source.targets.get("organization_ids", [])
    )
    session.add_all(
        CampaignTarget(campaign_id=cid, club_id=c) for c in source.targets.get("club_ids", [])
    )
    await session.flush()
    await follow_targets(session, campaign)
    return campaign


def copy_title(title: str) -> str:
    """The title a duplicate starts with; the editor may change it."""
    return f"{title[:193]} (copy)"


async def duplicate_campaign(
    db: Database, actor: Actor, campaign_id: int, dates: NewDates
) -> Campaign:
    """A new draft like the campaign (any status), under the same agreement."""
    async with db.write() as session:
        source = await scope.editable_campaign(session, actor, campaign_id)
        campaign = await _create_from(session, actor, await _snapshot(session, source), dates)
        audit(session, actor, "campaign.duplicate", "campaign", campaign.id, source=campaign_id)
    return campaign


async def save_as_template(
    db: Database, actor: Actor, campaign_id: int, title: str | None = None
) -> CampaignTemplate:
    async with db.write() as session:
        source = await _snapshot(
            session, await scope.editable_campaign(session, actor, campaign_id)
        )
        template = CampaignTemplate(
            agreement_id=source.agreement_id,
            title=(title or "").strip()[:200] or source.title,
            brief=source.brief,
            settings=source.settings,
            items=source.items,
            targets=source.targets,
            created_by_user_id=actor.user_id,
        )
        session.add(template)
        await session.flush()
        audit(session, actor, "campaign.template", "campaign", campaign_id, template=template.id)
    return template


def _templates(actor: Actor) -> Any:
    """Templates of agreements the actor's organization is party to (admins: all)."""
    stmt = select(CampaignTemplate).join(
        Agreement, col(Agreement.id) == CampaignTemplate.agreement_id
    )
    if not actor.is_admin:
        stmt = stmt.where(scope.party_to(frozenset({actor.organization_id})))
    return stmt


async def list_templates(db: Database, actor: Actor) -> list[CampaignTemplate]:
    policy.require(policy.runs_campaigns(actor))
    stmt = _templates(actor).order_by(col(CampaignTemplate.title), col(CampaignTemplate.id))
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())


async def changeable_templates(db: Database, actor: Actor) -> set[int]:
    """Ids of the templates the actor sees and may rename or delete."""
    policy.require(policy.runs_campaigns(actor))
    stmt = _templates(actor).with_only_columns(
        col(CampaignTemplate.id),
        col(CampaignTemplate.created_by_user_id),
        col(Agreement.lead_organization_id),
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return {i for i, by, lead in rows if policy.changes_template(actor, by, lead)}


async def get_template(db: Database, actor: Actor, template_id: int) -> CampaignTemplate:
    policy.require(policy.runs_campaigns(actor))
    async with db.read() as session:
        return await _template(session, actor, template_id)


async def _template(session: AsyncSession, actor: Actor, template_id: int) -> CampaignTemplate:
    stmt = _templates(actor).where(CampaignTemplate.id == template_id)
    template = await session.scalar(stmt)
    if template is None:
        raise NotFound("No such template.")
    return template


async def start_from_template(
    db: Database, actor: Actor, template_id: int, dates: NewDates
) -> Campaign:
    policy.require(policy.runs_campaigns(actor))
    async with db.write() as session:
        t = await _template(session, actor, template_id)
        source = Snapshot(t.agreement_id, t.title, t.brief, t.settings, t.items, t.targets)
        campaign = await _create_from(session, actor, source, dates)
        audit(session, actor, "campaign.from_template", "campaign", campaign.id, template=t.id)
    return campaign


async def _changeable_template(
    session: AsyncSession, actor: Actor, template_id: int
) -> CampaignTemplate:
    """A template the actor sees and may rename or delete (policy.changes_template)."""
    policy.require(policy.runs_campaigns(actor))
    template = await _template(session, actor, template_id)
    agreement = await session.get(Agreement, template.agreement_id)
    lead = agreement.lead_organization_id if agreement else 0
    policy.require(
        policy.changes_template(actor, template.created_by_user_id, lead),
        policy.TEMPLATE_REFUSED,
    )
    return template


def template_title(title: str | None) -> str:
    """A template's new name: 1-200 characters once trimmed."""
    cleaned = (title or "").strip()
    if not 1 <= len(cleaned) <= 200:
        raise Invalid(
            "The template cannot be saved.",
            errors=[{"field": "title", "message": "1-200 characters"}],
        )
    return cleaned


async def rename_template(
    db: Database, actor: Actor, template_id: int, title: str | None
) -> CampaignTemplate:
    new = template_title(title)
    async with db.write() as session:
        template = await _changeable_template(session, actor, template_id)
        old, template.title = template.title, new
        session.add(template)
        audit(session, actor, "campaign.template_rename", "template", template.id, old=old, new=new)
    return template


async def delete_template(db: Database, actor: Actor, template_id: int) -> str:
    """Deletes the template (campaigns started from it keep their copy); returns its name."""
    async with db.write() as session:
        template = await _changeable_template(session, actor, template_id)
        title = template.title
        await session.delete(template)
        audit(session, actor, "campaign.template_delete", "template", template_id, title=title)
    return title
