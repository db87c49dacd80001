"""Activation funnel per organization: members -> invited -> linked -> took part lately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import scope
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
    scope.require_role(actor, "coordinator", "lead", "leadership")
    now = now or utcnow()
    invited = select(Invite.member_id).where(col(Invite.member_id).is_not(None))
    active = select(Report.member_id).where(col(Report.created_at) >= now - RECENT)
    columns = {
        "members": func.count(),
        "invited": func.count().filter(
            (col(Member.id).in_(invited)) | col(Member.telegram_user_id).is_not(None)
        ),
        "linked": func.count(col(Member.telegram_user_id)),
        "active": func.count().filter(col(Member.id).in_(active)),
    }
    async with db.read() as session:
        rows: Any = (
            await session.execute(
                select(Member.organization_id, *columns.values())
                .where(col(Member.deactivated_at).is_(None))
                .group_by(col(Member.organization_id))
            )
        ).all()
        orgs = (
            await session.execute(
                select(Organization.id, Organization.name, Organization.parent_id)
            )
        ).all()
    direct = {org_id: Funnel(int(a), int(b), int(c), int(d)) for org_id, a, b, c, d in rows}
    own = actor.subtree if actor.role == "lead" else None
    return [
        FunnelLine(key, name, depth, parent, counts)
        for key, name, depth, parent, counts in roll_up(
            ((o, n, p) for o, n, p in orgs), direct, Funnel, own
        )
    ]
