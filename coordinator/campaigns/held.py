"""What fair load did to one campaign, per organization, for its status page: tasks held back
by the weekly cap (waiting, or never sent once the campaign ended), and with a share, how many
members were asked of how many it targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.campaigns.launch import campaign_targets, targeted_members
from coordinator.campaigns.models import Assignment, HeldTask
from coordinator.db import Database
from coordinator.organizations.models import Member, Organization
from coordinator.tallies.masked import Figure, shown


@dataclass
class LoadLine:
    organization_id: int
    name: str
    held: Figure
    asked: Figure
    members: Figure


@dataclass
class LoadFigures:
    share: int | None  # the campaign's share, percent (None: everyone was asked)
    held: Figure = 0
    asked: Figure = 0
    members: Figure = 0
    lines: list[LoadLine] = field(default_factory=list)

    @property
    def worth_showing(self) -> bool:
        """Worth a section: a share was asked, or something was held back."""
        return self.share is not None or bool(self.lines)


async def _per_organization(session: Any, statement: Any, within: frozenset[int] | None) -> Any:
    statement = statement.group_by(col(Member.organization_id))
    if within is not None:
        statement = statement.where(col(Member.organization_id).in_(within))
    return {int(o): int(n) for o, n in (await session.execute(statement)).all()}


async def load_of(db: Database, actor: Actor, campaign_id: int) -> LoadFigures:
    """Held back and asked per organization (a lead: their own subtree's), and in total."""
    within = policy.own_subtree(actor)
    by_org = select(Member.organization_id, func.count())
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        held = await _per_organization(
            session,
            by_org.join(HeldTask, col(HeldTask.member_id) == Member.id).where(
                HeldTask.campaign_id == campaign_id
            ),
            within,
        )
        assigned = await _per_organization(
            session,
            by_org.join(Assignment, col(Assignment.member_id) == Member.id).where(
                Assignment.campaign_id == campaign_id
            ),
            within,
        )
        orgs, clubs = await campaign_targets(session, campaign_id)
        members = await _per_organization(
            session, by_org.where(*targeted_members(orgs, clubs)), within
        )
        ids = set(held) | set(assigned) | set(members)
        names: dict[int, str] = dict(
            (
                await session.execute(
                    select(Organization.id, Organization.name).where(col(Organization.id).in_(ids))
                )
            ).all()
        )
    few = policy.counts_only(actor)
    lines = [
        LoadLine(
            o,
            names.get(o, ""),
            shown(held.get(o, 0), few),
            shown(held.get(o, 0) + assigned.get(o, 0), few),
            shown(members.get(o, 0), few),
        )
        for o in sorted(ids, key=lambda o: names.get(o, ""))
        if held.get(o) or campaign.ask_share_percent is not None
    ]
    total_held = sum(held.values())
    return LoadFigures(
        campaign.ask_share_percent,
        shown(total_held, few),
        shown(total_held + sum(assigned.values()), few),
        shown(sum(members.values()), few),
        lines,
    )
