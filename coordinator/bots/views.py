"""Loading what an outbox row needs to be rendered: the assignment, its campaign, its items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from coordinator.campaigns.models import Assignment, Campaign, ContentItem, Report
from coordinator.db import Database, in_ids
from coordinator.delivery.messages import AssignmentView, ItemView
from coordinator.delivery.store import Leased
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
    """The same, in the caller's session (and so seeing its uncommitted changes). Core
    columns, not ORM objects: the sender reads this for every round it leases."""
    rows: Sequence[Any] = (
        await session.execute(
            sa_select(
                col(Assignment.id),
                col(Assignment.status),
                col(Assignment.group_chat_id),
                col(Assignment.telegram_message_id),
                col(Campaign.id).label("campaign_id"),
                col(Campaign.title),
                col(Campaign.brief),
                col(Campaign.deadline_at),
                col(Campaign.paid_broadcast),
                col(Member.locale),
            )
            .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .outerjoin(Member, col(Member.id) == Assignment.member_id)
            .where(in_ids(session, col(Assignment.id), assignment_ids))
        )
    ).all()
    campaign_ids = {r.campaign_id for r in rows}
    items = (
        await session.execute(
            sa_select(
                col(ContentItem.campaign_id),
                col(ContentItem.url),
                col(ContentItem.actions),
                col(ContentItem.suggested_caption),
            )
            .where(in_ids(session, col(ContentItem.campaign_id), list(campaign_ids)))
            .order_by(col(ContentItem.position))
        )
    ).all()
    by_campaign: dict[int, list[ItemView]] = {}
    for item in items:
        by_campaign.setdefault(item.campaign_id, []).append(
            ItemView(item.url, list(item.actions), item.suggested_caption)
        )
    counts = await _group_counts(session, [r.id for r in rows if r.group_chat_id is not None])
    views = {}
    for r in rows:
        view = AssignmentView(
            assignment_id=r.id,
            title=r.title,
            brief=r.brief,
            deadline_at=r.deadline_at,
            items=by_campaign.get(r.campaign_id, []),
            status=r.status,
            counts=counts.get(r.id, {}) if r.group_chat_id is not None else None,
            paid_broadcast=r.paid_broadcast,
        )
        views[view.assignment_id] = (view, r.locale or default_locale, r.telegram_message_id)
    return views


async def _group_counts(session: AsyncSession, group_ids: list[int]) -> dict[int, dict[str, int]]:
    """Group mode: how many members reported each step of each task."""
    counts: dict[int, dict[str, int]] = {}
    if group_ids:
        tallies = await session.execute(
            select(Report.assignment_id, Report.action, func.count(func.distinct(Report.member_id)))
            .where(col(Report.assignment_id).in_(group_ids), col(Report.content_item_id).is_(None))
            .group_by(col(Report.assignment_id), col(Report.action))
        )
        for assignment_id, action, count in tallies.all():
            counts.setdefault(assignment_id, {})[action] = count
    return counts


class Cards:
    """What one round of leased rows renders from: their views, read in the lease's own
    transaction (`store.lease(load=...)`); their text comes from `messages.card_text`."""

    def __init__(self, default_locale: str) -> None:
        self.default_locale = default_locale
        self.views: Views = {}

    async def load(self, session: AsyncSession, rows: list[Leased]) -> None:
        ids = [r.assignment_id for r in rows if r.assignment_id is not None]
        if ids:
            self.views = await assignment_views_in(session, ids, self.default_locale)
