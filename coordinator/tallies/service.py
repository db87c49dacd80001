"""Campaign tallies counted in the database (the dashboards and exports grow from here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.campaigns.models import ASSIGNMENT_STATUSES, Assignment, Report
from coordinator.db import Database


@dataclass
class CampaignTally:
    campaign_id: int
    assigned: int
    by_status: dict[str, int]
    reports_by_action: dict[str, int] = field(default_factory=dict)

    @property
    def participation_rate(self) -> float:
        done = self.by_status.get("done", 0)
        return round(done / self.assigned, 4) if self.assigned else 0.0


async def campaign_tally(db: Database, actor: Actor, campaign_id: int) -> CampaignTally:
    async with db.read() as session:
        await scope.visible_campaign(session, actor, campaign_id)
        rows = await session.execute(
            select(Assignment.status, func.count())
            .where(Assignment.campaign_id == campaign_id)
            .group_by(Assignment.status)
        )
        by_status = dict.fromkeys(ASSIGNMENT_STATUSES, 0)
        by_status.update({status: count for status, count in rows.all()})
        # Distinct members per action: one person pressing twice is one.
        actions = await session.execute(
            select(Report.action, func.count(func.distinct(Report.member_id)))
            .join(Assignment, col(Assignment.id) == Report.assignment_id)
            .where(Assignment.campaign_id == campaign_id, col(Report.content_item_id).is_(None))
            .group_by(Report.action)
        )
    return CampaignTally(campaign_id, sum(by_status.values()), by_status, dict(actions.all()))
