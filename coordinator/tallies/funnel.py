"""Activation funnel per organization: members -> invited -> linked -> took part lately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns.models import Report
from coordinator.db import Database
from coordinator.organizations.models import Invite, Member, Organization
from coordinator.tallies.period import roll_up

RECENT = timedelta(days=30)


@dataclass
class Funnel:
    members: int = 0
    invited: int = 0  # has had an invite link, or is linked already
    linked: int = 0
    active: int = 0  # reported anything in the last 30 days

    def add(self, other: Funnel) -> None:
        self.members += other.members
        self.invited += other.invited
        self.linked += other.linked
        self.active += other.active


@dataclass
class FunnelLine:
    key: int
    name: str
    depth: int
    parent: int | None
    counts: Funnel


async def activation_funnel(
    db: Database, actor: Actor, now: datetime | None = None
) -> list[FunnelLine]:
    """Rolled up through the tree; leads get their subtree, leadership counts only."""
    policy.require(policy.sees_figures(actor))
    now = now or utcnow()
    # Correlated EXISTS, one count per query: PostgreSQL turns `IN (subquery)` inside an
    # aggregate FILTER into a per-row scan once the subquery no longer fits in work_mem.
    invited = exists().where(col(Invite.member_id) == Member.id)
    recent = exists().where(
        col(Report.member_id) == Member.id, col(Report.created_at) >= now - RECENT
    )
    current = col(Member.deactivated_at).is_(None)
    by_org = col(Member.organization_id)
    direct: dict[int, Funnel] = {}
    async with db.read() as session:
        for org_id, members, linked in (
            await session.execute(
                select(by_org, func.count(), func.count(col(Member.telegram_user_id)))
                .where(current)
                .group_by(by_org)
            )
        ).all():
            direct[org_id] = Funnel(members=int(members), linked=int(linked))
        for field_name, condition in (
            ("invited", or_(invited, col(Member.telegram_user_id).is_not(None))),
            ("active", recent),
        ):
            counted = await session.execute(
                select(by_org, func.count()).where(current, condition).group_by(by_org)
            )
            for org_id, count in counted.all():
                setattr(direct[org_id], field_name, int(count))
        orgs = (
            await session.execute(
                select(Organization.id, Organization.name, Organization.parent_id)
            )
        ).all()
    own = policy.own_subtree(actor)
    return [
        FunnelLine(key, name, depth, parent, counts)
        for key, name, depth, parent, counts in roll_up(
            ((o, n, p) for o, n, p in orgs), direct, Funnel, own
        )
    ]
