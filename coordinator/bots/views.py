"""Loading what an outbox row needs to be rendered: the assignment, its campaign, its items."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import table_of
from coordinator.campaigns.models import Assignment, Campaign, ContentItem, Report
from coordinator.db import Database
from coordinator.delivery.messages import AssignmentView, ItemView
from coordinator.organizations.models import Member

A, C, R, M = (table_of(t) for t in (Assignment, Campaign, Report, Member))
ITEM = table_of(ContentItem)
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
    """The same, in the caller's session (and so seeing its uncommitted changes). Plain rows:
    an `Assignment` and a `Campaign` object built per task were a good part of re-rendering
    a batch of pressed cards."""
    rows = (
        await session.execute(
            select(A.c.id, A.c.campaign_id, A.c.group_chat_id, A.c.status, A.c.telegram_message_id)
            .add_columns(M.c.locale)
            .outerjoin(M, M.c.id == A.c.member_id)
            .where(A.c.id.in_(assignment_ids))
        )
    ).all()
    campaign_ids = {r.campaign_id for r in rows}
    campaigns = {
        c.id: c
        for c in await session.execute(
            select(C.c.id, C.c.title, C.c.brief, C.c.deadline_at, C.c.paid_broadcast).where(
                C.c.id.in_(campaign_ids)
            )
        )
    }
    items = await session.execute(
        select(ITEM.c.campaign_id, ITEM.c.url, ITEM.c.actions, ITEM.c.suggested_caption)
        .where(ITEM.c.campaign_id.in_(campaign_ids))
        .order_by(ITEM.c.position)
    )
    by_campaign: dict[int, list[ItemView]] = {}
    for item in items:
        by_campaign.setdefault(item.campaign_id, []).append(
            ItemView(item.url, list(item.actions), item.suggested_caption)
        )
    counts = await _group_counts(session, [r.id for r in rows if r.group_chat_id is not None])
    views = {}
    for row in rows:
        campaign = campaigns[row.campaign_id]
        view = AssignmentView(
            assignment_id=row.id,
            title=campaign.title,
            brief=campaign.brief,
            deadline_at=campaign.deadline_at,
            items=by_campaign.get(row.campaign_id, []),
            status=row.status,
            counts=counts.get(row.id, {}) if row.group_chat_id else None,
            paid_broadcast=campaign.paid_broadcast,
        )
        views[row.id] = (view, row.locale or default_locale, row.telegram_message_id)
    return views


async def _group_counts(session: AsyncSession, group_ids: list[int]) -> dict[int, dict[str, int]]:
    """Group mode: how many members reported each step of each task."""
    counts: dict[int, dict[str, int]] = {}
    if group_ids:
        tallies = await session.execute(
            select(R.c.assignment_id, R.c.action, func.count(func.distinct(R.c.member_id)))
            .where(R.c.assignment_id.in_(group_ids), R.c.content_item_id.is_(None))
            .group_by(R.c.assignment_id, R.c.action)
        )
        for assignment_id, action, count in tallies.all():
            counts.setdefault(assignment_id, {})[action] = count
    return counts
