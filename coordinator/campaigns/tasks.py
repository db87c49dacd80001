"""Tasks as Telegram sees them: a member's open ones (/tasks), and the cards that went out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, case, literal, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.campaigns.models import Assignment, Campaign
from coordinator.campaigns.states import OPEN_ASSIGNMENT
from coordinator.db import Database, id_pairs


async def open_tasks(db: Database, member_id: int) -> list[tuple[Assignment, Campaign]]:
    """The member's tasks of running campaigns still waiting for them, nearest deadline first."""
    async with db.read() as session:
        rows = await session.execute(
            select(Assignment, Campaign)
            .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
            .where(
                Assignment.member_id == member_id,
                col(Assignment.status).in_(OPEN_ASSIGNMENT),
                Campaign.status == "active",
            )
            .order_by(col(Campaign.deadline_at))
        )
        return [(a, c) for a, c in rows.all()]


async def record_delivered(
    session: AsyncSession, cards: list[tuple[int, int | None]], now: datetime
) -> None:
    """Task cards Telegram accepted, (assignment id, message id) in assignment order: each
    task keeps its message id, and a pending one becomes delivered. In bulk: the sender's
    record calls this for every round (`delivery.store.Settle.delivered`)."""
    assignments = Assignment.__table__  # type: ignore[attr-defined]
    # One statement for both changes: its tally trigger runs once per round, and on
    # PostgreSQL it locks the summary lines in key order, as a launch's does. A resend must
    # not move delivered_at: only a pending task becomes delivered.
    pending = assignments.c.status == "pending"
    done = update(assignments).values(
        status=case((pending, "delivered"), else_=assignments.c.status),
        delivered_at=case(
            (pending, literal(now, assignments.c.delivered_at.type)),
            else_=assignments.c.delivered_at,
        ),
    )
    pairs = id_pairs(session, cards)
    if pairs is not None:  # PostgreSQL: one set-based statement
        await session.execute(
            done.where(assignments.c.id == pairs.c.id).values(telegram_message_id=pairs.c.value)
        )
        return
    await session.execute(
        done.where(assignments.c.id == bindparam("task")).values(
            telegram_message_id=bindparam("message_id")
        ),
        [{"task": task, "message_id": message_id} for task, message_id in cards],
    )
