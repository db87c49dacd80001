"""Loading what an outbox row needs to be rendered: the assignment, its campaign, its items."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from coordinator.base import row_id
from coordinator.campaigns.models import Assignment, Campaign, ContentItem, Report
from coordinator.db import Database
from coordinator.delivery.messages import AssignmentView, ItemView
from coordinator.organizations.models import Member

View = tuple[AssignmentView, str, int | None]  # the view, the reader's locale, the message id
Views = dict[int, View]


async def assignment_views(
    db: Database, assignment_ids: Sequence[int], default_locale: str
) -> Views:
    """For each assignment: its view, the reader's locale, and the message id it was sent as."""
    if not assignment_ids:
        return {}
    async with db.read() as session:
        return await assignment_views_in(session, assignment_ids, default_locale)


async def assignment_views_in(
    session: AsyncSession, assignment_ids: Sequence[int], default_locale: str
) -> Views:
    """The same, in the caller's session (and so seeing its uncommitted changes)."""
    rows = (
        await session.execute(
            select(Assignment, Campaign, Member.locale)
            .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .outerjoin(Member, col(Member.id) == Assignment.member_id)
            .where(col(Assignment.id).in_(assignment_ids))
        )
    ).all()
    campaign_ids = {c.id for _, c, _ in rows}
    items = (
        await session.scalars(
            select(ContentItem)
            .where(col(ContentItem.campaign_id).in_(campaign_ids))
            .order_by(col(ContentItem.position))
        )
    ).all()
    group_ids = [a.id for a, _, _ in rows if a.group_chat_id is not None]
    counts: dict[int, dict[str, int]] = {}
    if group_ids:
        tallies = await session.execute(
            select(Report.assignment_id, Report.action, func.count(func.distinct(Report.member_id)))
            .where(col(Report.assignment_id).in_(group_ids), col(Report.content_item_id).is_(None))
            .group_by(col(Report.assignment_id), col(Report.action))
        )
        for assignment_id, action, count in tallies.all():
            counts.setdefault(assignment_id, {})[action] = count
    by_campaign: dict[int, list[ItemView]] = {}
    for item in items:
        by_campaign.setdefault(item.campaign_id, []).append(
            ItemView(item.url, list(item.actions), item.suggested_caption)
        )
    views = {}
    for assignment, campaign, locale in rows:
        view = AssignmentView(
            assignment_id=row_id(assignment),
            title=campaign.title,
            brief=campaign.brief,
            deadline_at=campaign.deadline_at,
            items=by_campaign.get(row_id(campaign), []),
            status=assignment.status,
            counts=counts.get(row_id(assignment), {}) if assignment.group_chat_id else None,
            paid_broadcast=campaign.paid_broadcast,
        )
        views[view.assignment_id] = (view, locale or default_locale, assignment.telegram_message_id)
    return views
