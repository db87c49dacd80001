"""Campaigns: drafting, content, targets, and the guarded moves schedule/launch/close/cancel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, case, delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import SYSTEM, Actor
from coordinator.base import row_id, utcnow
from coordinator.bots.models import OutboxMessage
from coordinator.campaigns import launch as materialize
from coordinator.campaigns.models import (
    CONTENT_ACTIONS,
    Assignment,
    Campaign,
    CampaignTarget,
    ContentItem,
)
from coordinator.campaigns.states import OPEN_ASSIGNMENT, campaign_move
from coordinator.clock import local_date
from coordinator.db import Database
from coordinator.errors import Conflict, Forbidden, Invalid, field_error
from coordinator.organizations.agreements import channel_for_url, check_url, party_ids, reach_of
from coordinator.organizations.models import (
    Agreement,
    AgreementParty,
    Club,
    Member,
    MemberClub,
    Organization,
)
from coordinator.pagination import Page, paginate

CONTENT_KINDS = ("post", "video", "article", "image", "live")


@dataclass
class CampaignDraft:
    agreement_id: int
    title: str
    launch_at: datetime
    deadline_at: datetime
    brief: str = ""
    quota_percent: int | None = None
    delivery_mode: str = "dm"
    proof_requested: bool = False
    reminder_hours: list[int] = field(default_factory=lambda: [24, 2])
    remind_in_quiet_hours: bool = False
    paid_broadcast: bool = False


def _check_draft(d: CampaignDraft) -> None:
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
    if len(d.reminder_hours) > 5 or any(not 1 <= h <= 168 for h in d.reminder_hours):
        errors.append(field_error("reminder_hours", "up to 5 values, each 1-168 hours"))
    if d.delivery_mode not in ("dm", "group"):
        errors.append(field_error("delivery_mode", "dm or group"))
    if errors:
        raise Invalid("The campaign cannot be saved.", errors=errors)


async def _agreement_for(
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
            f"The agreement is valid from {agreement.valid_from} to {agreement.valid_until}; "
            f"the campaign runs {first} to {last}.",
            errors=[field_error("agreement_id", "not valid on the campaign's dates")],
            code="agreement_not_valid",
        )
    return agreement


async def create_campaign(db: Database, actor: Actor, draft: CampaignDraft) -> Campaign:
    scope.require_role(actor, "coordinator")
    _check_draft(draft)
    async with db.write() as session:
        await _agreement_for(session, actor, draft.agreement_id, draft.launch_at, draft.deadline_at)
        campaign = Campaign(
            agreement_id=draft.agreement_id,
            title=draft.title.strip(),
            brief=draft.brief,
            launch_at=draft.launch_at,
            deadline_at=draft.deadline_at,
            quota_percent=draft.quota_percent,
            delivery_mode=draft.delivery_mode,
            proof_requested=draft.proof_requested,
            reminder_hours=sorted(set(draft.reminder_hours), reverse=True),
            remind_in_quiet_hours=draft.remind_in_quiet_hours,
            paid_broadcast=draft.paid_broadcast,
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
    _check_draft(draft)
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        _require_status(campaign, ("draft", "scheduled"), "edited")
        if draft.agreement_id != campaign.agreement_id:
            raise Invalid(
                "The agreement of a campaign cannot change.",
                errors=[field_error("agreement_id", "cannot change")],
            )
        await _agreement_for(
            session, actor, campaign.agreement_id, draft.launch_at, draft.deadline_at
        )
        for name in (
            "brief",
            "launch_at",
            "deadline_at",
            "quota_percent",
            "delivery_mode",
            "proof_requested",
            "remind_in_quiet_hours",
            "paid_broadcast",
        ):
            setattr(campaign, name, getattr(draft, name))
        campaign.reminder_hours = sorted(set(draft.reminder_hours), reverse=True)
        campaign.title = draft.title.strip()
        audit(session, actor, "campaign.update", "campaign", campaign_id)
    return campaign


def _require_status(campaign: Campaign, allowed: Sequence[str], doing: str) -> None:
    if campaign.status not in allowed:
        raise Conflict(f"A {campaign.status} campaign cannot be {doing}.", code="wrong_status")


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
    errors = []
    if kind not in CONTENT_KINDS:
        errors.append(field_error("kind", f"one of {', '.join(CONTENT_KINDS)}"))
    if (
        not actions
        or any(a not in CONTENT_ACTIONS for a in actions)
        or len(set(actions)) != len(actions)
    ):
        errors.append(
            field_error("actions", f"one or more distinct of {', '.join(CONTENT_ACTIONS)}")
        )
    if suggested_caption is not None and len(suggested_caption) > 1000:
        errors.append(field_error("suggested_caption", "at most 1000 characters"))
    if errors:
        raise Invalid("The content item cannot be added.", errors=errors)
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        _require_status(campaign, ("draft", "scheduled"), "given new content")
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


async def set_targets(
    db: Database,
    actor: Actor,
    campaign_id: int,
    *,
    organization_ids: Sequence[int],
    club_ids: Sequence[int],
) -> list[CampaignTarget]:
    """Replace the targets: parties, their sub-organizations, and clubs inside them only."""
    if not organization_ids and not club_ids:
        raise Invalid(
            "Pick at least one organization or club.",
            errors=[field_error("organization_ids", "empty")],
        )
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        _require_status(campaign, ("draft", "scheduled"), "retargeted")
        reach = await reach_of(session, campaign.agreement_id)
        errors = []
        if outside := sorted(set(organization_ids) - reach):
            errors.append(
                field_error(
                    "organization_ids", f"not parties of the agreement or below them: {outside}"
                )
            )
        clubs = (
            (await session.scalars(select(Club).where(col(Club.id).in_(club_ids)))).all()
            if club_ids
            else []
        )
        bad_clubs = sorted(set(club_ids) - {c.id for c in clubs if c.organization_id in reach})
        if bad_clubs:
            errors.append(
                field_error("club_ids", f"not clubs of the agreement's parties: {bad_clubs}")
            )
        if errors:
            raise Invalid(
                "These targets are outside the agreement.",
                errors=errors,
                code="target_outside_agreement",
            )
        await session.execute(
            delete(CampaignTarget).where(col(CampaignTarget.campaign_id) == campaign_id)
        )
        targets = [
            CampaignTarget(campaign_id=campaign_id, organization_id=o)
            for o in sorted(set(organization_ids))
        ]
        targets += [
            CampaignTarget(campaign_id=campaign_id, club_id=c) for c in sorted(set(club_ids))
        ]
        session.add_all(targets)
        audit(
            session,
            actor,
            "campaign.targets",
            "campaign",
            campaign_id,
            organizations=sorted(set(organization_ids)),
            clubs=sorted(set(club_ids)),
        )
    return targets


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
    await _agreement_for(session, actor, campaign.agreement_id, start, campaign.deadline_at)


async def _move(session: AsyncSession, campaign: Campaign, move: str) -> None:
    target = campaign_move(campaign.status, move)
    if target is None:
        raise Conflict(f"A {campaign.status} campaign cannot {move}.", code="wrong_status")
    campaign.status = target


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
    """Make the campaign active and write its assignments and outbox rows in one transaction.

    Launching again (an active campaign) adds only members who became eligible since; with
    nothing new it changes nothing. `actor=None` is the scheduler launching on time.
    """
    now = now or utcnow()
    acting = actor or SYSTEM
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, acting, campaign_id)
        was = campaign.status
        await _move(session, campaign, "launch")
        # Launching early needs the agreement to be valid already today.
        await _check_ready(session, acting, campaign, now, min(now, campaign.launch_at))
        if was != "active":
            campaign.launched_at = now
        created = await materialize.write_assignments(session, campaign, now)
        audit(
            session,
            actor,
            "campaign.launch",
            "campaign",
            campaign_id,
            created=created,
        )
    return LaunchResult(campaign, created)


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
        await session.execute(
            update(Assignment)
            .where(
                col(Assignment.campaign_id) == campaign_id,
                col(Assignment.status).in_(OPEN_ASSIGNMENT),
            )
            .values(status="expired", expired_at=now)
        )
        await session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.assignment_id).in_(
                    select(Assignment.id).where(Assignment.campaign_id == campaign_id)
                ),
                col(OutboxMessage.status) == "pending",
            )
            .values(status="cancelled", error=f"campaign {campaign.status}")
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


async def list_campaigns(
    db: Database,
    actor: Actor,
    status: str | None,
    limit: int,
    offset: int,
    search: str | None = None,
) -> Page[Campaign]:
    stmt = scope.campaigns(actor, select(Campaign).order_by(col(Campaign.id).desc()))
    if status is not None:
        stmt = stmt.where(Campaign.status == status)
    if search and search.strip():
        stmt = stmt.where(col(Campaign.title).icontains(search.strip(), autoescape=True))
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)


@dataclass
class CampaignDetail:
    campaign: Campaign
    items: list[ContentItem]
    targets: list[CampaignTarget]


async def get_campaign(db: Database, actor: Actor, campaign_id: int) -> CampaignDetail:
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        items = (
            await session.scalars(
                select(ContentItem)
                .where(ContentItem.campaign_id == campaign_id)
                .order_by(col(ContentItem.position))
            )
        ).all()
        targets = (
            await session.scalars(
                select(CampaignTarget)
                .where(CampaignTarget.campaign_id == campaign_id)
                .order_by(col(CampaignTarget.id))
            )
        ).all()
    return CampaignDetail(campaign, list(items), list(targets))


async def audience_of(db: Database, actor: Actor, campaign_id: int) -> tuple[int, int]:
    """(volunteers, group chats) that launching now would reach."""
    async with db.read() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        return await materialize.audience(session, campaign)


@dataclass
class TargetChoice:
    id: int
    name: str
    depth: int
    volunteers: int  # reachable now, sub-organizations included


@dataclass
class TargetChoices:
    organizations: list[TargetChoice]
    clubs: list[TargetChoice]


async def target_choices(db: Database, actor: Actor, agreement_id: int) -> TargetChoices:
    """What a campaign under this agreement may target, with how many volunteers each reaches."""
    scope.require_role(actor, "coordinator")
    async with db.read() as session:
        reach = await reach_of(session, agreement_id)
        orgs = (
            await session.scalars(
                select(Organization)
                .where(col(Organization.id).in_(reach))
                .order_by(col(Organization.name))
            )
        ).all()
        reachable = materialize.eligible_members(reach, set())
        direct = dict(
            (
                await session.execute(
                    select(Member.organization_id, func.count())
                    .where(*reachable)
                    .group_by(col(Member.organization_id))
                )
            )
            .tuples()
            .all()
        )
        clubs = (
            await session.execute(
                select(
                    Club.id,
                    Club.name,
                    Club.organization_id,
                    func.coalesce(func.sum(case((and_(*reachable), 1), else_=0)), 0),
                )
                .outerjoin(MemberClub, col(MemberClub.club_id) == Club.id)
                .outerjoin(Member, col(Member.id) == MemberClub.member_id)
                .where(col(Club.organization_id).in_(reach))
                .group_by(col(Club.id), col(Club.name), col(Club.organization_id))
                .order_by(col(Club.name))
            )
        ).all()
    children: dict[int | None, list[Organization]] = {}
    for org in orgs:
        parent = org.parent_id if org.parent_id in reach else None
        children.setdefault(parent, []).append(org)
    out: list[TargetChoice] = []

    def walk(parent: int | None, depth: int) -> int:
        total = 0
        for org in children.get(parent, []):
            at = len(out)
            out.append(TargetChoice(row_id(org), org.name, depth, 0))
            below = walk(row_id(org), depth + 1)
            out[at].volunteers = direct.get(row_id(org), 0) + below
            total += out[at].volunteers
        return total

    walk(None, 0)
    names = {c.id: c.name for c in out}
    club_choices = [
        TargetChoice(club_id, f"{name} ({names.get(org_id, '')})", 0, count)
        for club_id, name, org_id, count in clubs
    ]
    return TargetChoices(out, club_choices)


async def agreements_for_new_campaigns(db: Database, actor: Actor, today: date) -> list[Agreement]:
    """Agreements a campaign can be created under now: in force or starting later, and (for a
    coordinator) with their organization as a party."""
    scope.require_role(actor, "coordinator")
    stmt = select(Agreement).where(Agreement.valid_until >= today).order_by(col(Agreement.title))
    if not actor.is_admin:
        stmt = stmt.where(
            col(Agreement.id).in_(
                select(AgreementParty.agreement_id).where(
                    AgreementParty.organization_id == actor.organization_id
                )
            )
        )
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())


async def check_content_url(
    db: Database, actor: Actor, agreement_id: int, url: str, channel_id: int | None = None
) -> tuple[str, str]:
    """(channel name, organization name) the URL is published on; Invalid if none of the
    agreement's parties runs that channel, or (code channel_choice_needed, with the candidates)
    if the URL does not show its channel. Used as the editor checks a URL while typing."""
    scope.require_role(actor, "coordinator")
    url = check_url(url)
    async with db.read() as session:
        channel = (await channel_for_url(session, agreement_id, url, channel_id)).channel
        org = await session.get(Organization, channel.organization_id)
    return channel.name, org.name if org else ""
