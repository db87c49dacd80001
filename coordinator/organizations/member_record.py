"""One member's record for their page: clubs, Telegram state, and their tasks with reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns.models import Assignment, Campaign, Report
from coordinator.db import Database
from coordinator.errors import NotFound
from coordinator.organizations.members import club_ids_of
from coordinator.organizations.models import Club, Invite, Member, Organization

MAX_TASKS = 100


@dataclass
class Task:
    campaign_id: int
    campaign_title: str
    status: str
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    done_at: datetime | None
    reports: list[Report] = field(default_factory=list)


@dataclass
class MemberRecord:
    member: Member
    organization: Organization
    clubs: list[Club]
    telegram: str  # linked, invited, unreachable, opted_out, deactivated, not_linked
    tasks: list[Task]


def telegram_state(member: Member, invited: bool) -> str:
    if member.deactivated_at is not None:
        return "deactivated"
    if member.unreachable_at is not None:
        return "unreachable"
    if member.opted_out_at is not None:
        return "opted_out"
    if member.telegram_user_id is not None:
        return "linked"
    return "invited" if invited else "not_linked"


async def member_record(db: Database, actor: Actor, member_id: int) -> MemberRecord:
    """Only for actors who see names (`scope.members`: leadership is refused)."""
    async with db.read() as session:
        member = await session.scalar(
            scope.members(actor, select(Member).where(Member.id == member_id))
        )
        if member is None:
            raise NotFound(f"Member {member_id} not found.")
        organization = await session.get(Organization, member.organization_id)
        assert organization is not None
        club_ids = (await club_ids_of(session, [member_id]))[member_id]
        clubs = list(
            (
                await session.scalars(
                    select(Club).where(col(Club.id).in_(club_ids)).order_by(col(Club.name))
                )
            ).all()
        )
        open_invites = await session.scalar(
            select(func.count())
            .select_from(Invite)
            .where(
                Invite.member_id == member_id,
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > utcnow(),
            )
        )
        rows = await session.execute(
            select(Assignment, Campaign.title)
            .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .where(Assignment.member_id == member_id)
            .order_by(col(Assignment.created_at).desc(), col(Assignment.id).desc())
            .limit(MAX_TASKS)
        )
        tasks = {
            a.id: Task(a.campaign_id, title, a.status, a.delivered_at, a.acknowledged_at, a.done_at)
            for a, title in rows
        }
        reports = await session.scalars(
            select(Report)
            .where(Report.member_id == member_id, col(Report.assignment_id).in_(list(tasks)))
            .order_by(col(Report.created_at))
        )
        for report in reports:
            tasks[report.assignment_id].reports.append(report)
    state = telegram_state(member, bool(open_invites))
    return MemberRecord(member, organization, clubs, state, list(tasks.values()))
