"""Reading campaigns: lists, one campaign with its content and targets, what it may target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.base import row_id, utcnow
from coordinator.campaigns import launch as materialize
from coordinator.campaigns.models import Campaign, CampaignTarget, ContentItem
from coordinator.clock import local_date
from coordinator.db import Database
from coordinator.organizations.agreements import channel_for_url, check_url, reach_of
from coordinator.organizations.models import Agreement, Club, Member, MemberClub, Organization
from coordinator.pagination import Page, paginate

# Columns the campaign list sorts by; "-name" sorts descending. Newest first by default.
SORTS = {
    "title": Campaign.title,
    "status": Campaign.status,
    "launch_at": Campaign.launch_at,
    "deadline_at": Campaign.deadline_at,
}


async def list_campaigns(
    db: Database,
    actor: Actor,
    status: str | None,
    limit: int,
    offset: int,
    search: str | None = None,
    sort: str | None = None,
) -> Page[Campaign]:
    order: list[Any] = [col(Campaign.id).desc()]
    if sort and sort.removeprefix("-") in SORTS:
        column = col(SORTS[sort.removeprefix("-")])
        order.insert(0, column.desc() if sort.startswith("-") else column.asc())
    stmt = scope.campaigns(actor, select(Campaign).order_by(*order))
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
    policy.require(policy.runs_campaigns(actor))
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
    out = _as_tree(list(orgs), reach, direct)
    names = {c.id: c.name for c in out}
    club_choices = [
        TargetChoice(club_id, f"{name} ({names.get(org_id, '')})", 0, count)
        for club_id, name, org_id, count in clubs
    ]
    return TargetChoices(out, club_choices)


def _as_tree(
    orgs: list[Organization], reach: set[int], direct: dict[int, int]
) -> list[TargetChoice]:
    """The organizations in tree order with their depth, each counting the volunteers of its
    whole subtree (`direct` holds each organization's own)."""
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
    return out


async def agreements_for_new_campaigns(
    db: Database, actor: Actor, today: date | None = None
) -> list[Agreement]:
    """Agreements a campaign can be created under now (`today` in the configured zone by
    default): in force or starting later, and (for a coordinator) with their organization as a
    party."""
    policy.require(policy.runs_campaigns(actor))
    stmt = select(Agreement).where(Agreement.valid_until >= (today or local_date(utcnow())))
    if not actor.is_admin:  # a coordinator drafts under their own organization's agreements
        stmt = stmt.where(scope.party_to(frozenset({actor.organization_id})))
    async with db.read() as session:
        return list((await session.scalars(stmt.order_by(col(Agreement.title)))).all())


async def check_content_url(
    db: Database, actor: Actor, agreement_id: int, url: str, channel_id: int | None = None
) -> tuple[str, str]:
    """(channel name, organization name) the URL is published on; Invalid if none of the
    agreement's parties runs that channel, or (code channel_choice_needed, with the candidates)
    if the URL does not show its channel. Used as the editor checks a URL while typing."""
    policy.require(policy.runs_campaigns(actor))
    url = check_url(url)
    async with db.read() as session:
        channel = (await channel_for_url(session, agreement_id, url, channel_id)).channel
        org = await session.get(Organization, channel.organization_id)
    return channel.name, org.name if org else ""


async def agreement_of(db: Database, actor: Actor, campaign: Campaign) -> Agreement | None:
    """The campaign's agreement, if the actor may read it (agreements are internal documents)."""
    stmt = select(Agreement).where(Agreement.id == campaign.agreement_id)
    async with db.read() as session:
        return await session.scalar(scope.agreements(actor, stmt))
