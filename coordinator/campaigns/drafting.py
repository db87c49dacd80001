"""Drafting campaigns: the draft's fields, its content items and its targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import row_id
from coordinator.campaigns.models import (
    CONTENT_ACTIONS,
    DEFAULT_ORG_ESCALATE_HOURS,
    DEFAULT_ORG_REMIND_HOURS,
    DEFAULT_REMINDER_HOURS,
    Campaign,
    CampaignTarget,
    ContentItem,
)
from coordinator.campaigns.states import wrong_status
from coordinator.clock import local_date
from coordinator.db import Database
from coordinator.errors import Forbidden, Invalid, field_error
from coordinator.organizations.agreements import channel_for_url, check_url, party_ids
from coordinator.organizations.models import Agreement

CONTENT_KINDS = ("post", "video", "article", "image", "live")


@dataclass
class CampaignDraft:
    agreement_id: int
    title: str
    launch_at: datetime
    deadline_at: datetime
    brief: str = ""
    quota_percent: int | None = None
    ask_share_percent: int | None = None  # fair load: ask this share of each organization
    # None: not chosen, the mode follows the targets (`auto_delivery_mode`).
    delivery_mode: str | None = None
    proof_requested: bool = False
    reminder_hours: list[int] = field(default_factory=lambda: list(DEFAULT_REMINDER_HOURS))
    remind_in_quiet_hours: bool = False
    paid_broadcast: bool = False
    org_remind_after_hours: int | None = DEFAULT_ORG_REMIND_HOURS
    org_escalate_after_hours: int | None = DEFAULT_ORG_ESCALATE_HOURS
    org_auto_pass_on_after_hours: int | None = None
    # Set by the browser's forms: times before this are refused (the API accepts them).
    not_before: datetime | None = None


PAST_GRACE = timedelta(minutes=5)  # a launch time typed a moment ago is not "in the past"
ORG_HOURS = ("org_remind_after_hours", "org_escalate_after_hours", "org_auto_pass_on_after_hours")
MAX_ORG_HOURS = 168


def auto_delivery_mode(organizations: int) -> str:
    """The mode of a campaign whose author chose none: through organizations when it targets
    more than one, each then passing it on; otherwise a direct message to each volunteer."""
    return "org" if organizations > 1 else "dm"


def draft_errors(d: CampaignDraft, kept_launch: datetime | None = None) -> list[dict[str, str]]:
    """Everything wrong with the draft at once; `kept_launch` is the stored launch time, which
    an edit may keep even once it has passed."""
    errors = []
    if not 1 <= len(d.title.strip()) <= 200:
        errors.append(field_error("title", "1-200 characters"))
    if len(d.brief) > 4000:
        errors.append(field_error("brief", "at most 4000 characters"))
    if d.launch_at.tzinfo is None or d.deadline_at.tzinfo is None:
        errors.append(field_error("launch_at", "times need a time zone (e.g. +07:00 or Z)"))
    elif d.deadline_at <= d.launch_at:
        errors.append(field_error("deadline_at", "must be after launch_at"))
    if d.quota_percent is not None and not 1 <= d.quota_percent <= 100:
        errors.append(field_error("quota_percent", "between 1 and 100"))
    if d.ask_share_percent is not None and not 1 <= d.ask_share_percent <= 100:
        errors.append(field_error("ask_share_percent", "between 1 and 100"))
    if d.ask_share_percent is not None and d.delivery_mode == "group":
        errors.append(field_error("ask_share_percent", "a group chat message reaches everyone"))
    if len(d.reminder_hours) > 5 or any(not 1 <= h <= 168 for h in d.reminder_hours):
        errors.append(field_error("reminder_hours", "up to 5 values, each 1-168 hours"))
    if d.delivery_mode is not None and d.delivery_mode not in ("dm", "group", "org"):
        errors.append(field_error("delivery_mode", "dm, group or org"))
    for name in ORG_HOURS:
        hours = getattr(d, name)
        if hours is not None and not 1 <= hours <= MAX_ORG_HOURS:
            errors.append(field_error(name, "empty for never, or 1-168 hours"))
    return errors + _past_errors(d, kept_launch)


def _past_errors(d: CampaignDraft, kept_launch: datetime | None) -> list[dict[str, str]]:
    if d.not_before is None or d.launch_at.tzinfo is None or d.deadline_at.tzinfo is None:
        return []
    errors = []
    if d.deadline_at <= d.not_before:
        errors.append(field_error("deadline_at", "this time has passed: pick a later deadline"))
    kept = kept_launch is not None and _minute(kept_launch) == _minute(d.launch_at)
    if d.launch_at < d.not_before - PAST_GRACE and not kept:
        errors.append(
            field_error(
                "launch_at",
                "this time has passed: pick a later one, or launch now from the launch page",
            )
        )
    return errors


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


async def _check_draft(
    session: AsyncSession,
    actor: Actor,
    d: CampaignDraft,
    agreement_id: int,
    kept_launch: datetime | None = None,
) -> Agreement | None:
    """The draft's own errors and its agreement's, raised together."""
    errors = draft_errors(d, kept_launch)
    if d.launch_at.tzinfo is None or d.deadline_at.tzinfo is None:
        raise Invalid("The campaign cannot be saved.", errors=errors)
    try:
        agreement = await agreement_for(session, actor, agreement_id, d.launch_at, d.deadline_at)
    except Invalid as exc:
        raise Invalid(
            exc.message, values=exc.values, errors=[*errors, *(exc.errors or [])], code=exc.code
        ) from None
    if errors:
        raise Invalid("The campaign cannot be saved.", errors=errors)
    return agreement


async def agreement_for(
    session: AsyncSession,
    actor: Actor,
    agreement_id: int,
    launch_at: datetime,
    deadline_at: datetime,
) -> Agreement:
    """The agreement, if the actor's organization is party to it and it covers both dates."""
    agreement = await session.get(Agreement, agreement_id)
    if agreement is None:
        raise Invalid(
            "No such agreement.", errors=[field_error("agreement_id", "no such agreement")]
        )
    if not actor.is_admin and actor.organization_id not in await party_ids(session, agreement_id):
        raise Forbidden("Your organization is not a party to this agreement.")
    first, last = local_date(launch_at), local_date(deadline_at)
    if first < agreement.valid_from or last > agreement.valid_until:
        raise Invalid(
            "The agreement is valid from {valid_from} to {valid_until}; "
            "the campaign runs {first} to {last}.",
            errors=[field_error("agreement_id", "not valid on the campaign's dates")],
            code="agreement_not_valid",
            values={
                "valid_from": agreement.valid_from,
                "valid_until": agreement.valid_until,
                "first": first,
                "last": last,
            },
        )
    return agreement


async def create_campaign(db: Database, actor: Actor, draft: CampaignDraft) -> Campaign:
    policy.require(policy.runs_campaigns(actor))
    async with db.write() as session:
        return await new_campaign(session, actor, draft)


async def new_campaign(session: AsyncSession, actor: Actor, draft: CampaignDraft) -> Campaign:
    """Insert a checked draft (create, duplicate and start-from-template share it)."""
    await _check_draft(session, actor, draft, draft.agreement_id)
    campaign = Campaign(
        agreement_id=draft.agreement_id,
        title=draft.title.strip(),
        brief=draft.brief,
        launch_at=draft.launch_at,
        deadline_at=draft.deadline_at,
        quota_percent=draft.quota_percent,
        ask_share_percent=draft.ask_share_percent,
        delivery_mode=draft.delivery_mode or auto_delivery_mode(0),
        delivery_mode_auto=draft.delivery_mode is None,
        proof_requested=draft.proof_requested,
        reminder_hours=sorted(set(draft.reminder_hours), reverse=True),
        remind_in_quiet_hours=draft.remind_in_quiet_hours,
        paid_broadcast=draft.paid_broadcast,
        **{name: getattr(draft, name) for name in ORG_HOURS},
        created_by_user_id=actor.user_id,
    )
    session.add(campaign)
    await session.flush()
    audit(session, actor, "campaign.create", "campaign", campaign.id)
    return campaign


async def update_campaign(
    db: Database, actor: Actor, campaign_id: int, draft: CampaignDraft
) -> Campaign:
    """Drafts and scheduled campaigns can be edited; the agreement cannot change."""
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        require_status(campaign, ("draft", "scheduled"), "edit")
        if draft.agreement_id != campaign.agreement_id:
            raise Invalid(
                "The agreement of a campaign cannot change.",
                errors=[field_error("agreement_id", "cannot change")],
            )
        await _check_draft(session, actor, draft, campaign.agreement_id, campaign.launch_at)
        for name in (
            "brief",
            "launch_at",
            "deadline_at",
            "quota_percent",
            "ask_share_percent",
            "proof_requested",
            "remind_in_quiet_hours",
            "paid_broadcast",
            *ORG_HOURS,
        ):
            setattr(campaign, name, getattr(draft, name))
        await _set_mode(session, campaign, draft.delivery_mode)
        campaign.reminder_hours = sorted(set(draft.reminder_hours), reverse=True)
        campaign.title = draft.title.strip()
        audit(session, actor, "campaign.update", "campaign", campaign_id)
    return campaign


async def _set_mode(session: AsyncSession, campaign: Campaign, mode: str | None) -> None:
    """The chosen mode, or (None) the one its targets call for."""
    campaign.delivery_mode_auto = mode is None
    if mode is None:
        await follow_targets(session, campaign)
    else:
        campaign.delivery_mode = mode


async def follow_targets(session: AsyncSession, campaign: Campaign) -> None:
    if not campaign.delivery_mode_auto:
        return
    organizations = await session.scalars(
        select(CampaignTarget.organization_id).where(
            CampaignTarget.campaign_id == campaign.id,
            col(CampaignTarget.organization_id).is_not(None),
        )
    )
    campaign.delivery_mode = auto_delivery_mode(len(organizations.all()))


def require_status(campaign: Campaign, allowed: Sequence[str], doing: str) -> None:
    if campaign.status not in allowed:
        raise wrong_status(campaign.status, doing)


async def add_content_item(
    db: Database,
    actor: Actor,
    campaign_id: int,
    *,
    url: str,
    kind: str,
    actions: Sequence[str],
    suggested_caption: str | None = None,
    channel_id: int | None = None,
) -> ContentItem:
    """`channel_id` is the registered channel the coordinator chose: needed when the URL does
    not show its channel (a video id, a share or short link), and then audited as confirmed
    by the coordinator; otherwise it must be the channel the URL is on."""
    url = check_url(url)
    errors = _content_errors(kind, actions, suggested_caption)
    if errors:
        raise Invalid("The content item cannot be added.", errors=errors)
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        require_status(campaign, ("draft", "scheduled"), "content")
        found = await channel_for_url(session, campaign.agreement_id, url, channel_id)
        count = len(
            (
                await session.scalars(
                    select(ContentItem.id).where(ContentItem.campaign_id == campaign_id)
                )
            ).all()
        )
        item = ContentItem(
            campaign_id=campaign_id,
            channel_id=row_id(found.channel),
            url=url,
            kind=kind,
            actions=list(actions),
            suggested_caption=suggested_caption,
            position=count,
        )
        session.add(item)
        await session.flush()
        audit(
            session,
            actor,
            "campaign.content",
            "campaign",
            campaign_id,
            item=item.id,
            channel=found.channel.id,
            ownership="confirmed_by_coordinator" if found.confirmed_by_coordinator else "url",
        )
    return item


def _content_errors(
    kind: str, actions: Sequence[str], suggested_caption: str | None
) -> list[dict[str, Any]]:
    """What is wrong with a content item's kind, actions and caption, all at once."""
    errors = []
    if kind not in CONTENT_KINDS:
        errors.append(field_error("kind", "one of {choices}", choices=", ".join(CONTENT_KINDS)))
    if (
        not actions
        or any(a not in CONTENT_ACTIONS for a in actions)
        or len(set(actions)) != len(actions)
    ):
        errors.append(
            field_error(
                "actions", "one or more distinct of {actions}", actions=", ".join(CONTENT_ACTIONS)
            )
        )
    if suggested_caption is not None and len(suggested_caption) > 1000:
        errors.append(field_error("suggested_caption", "at most 1000 characters"))
    return errors
