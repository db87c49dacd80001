"""Task cards queued a chunk at a time: a launch queues its first chunk, the senders the rest.

A national launch writes 900,000 tasks; writing their 900,000 outbox rows in the same
transaction was 45 % of it (docs/benchmarks.md, "Task cards queued by the senders"). So a
launch queues the cards of its first `CARD_CHUNK` tasks and leaves a `CardBacklog` row for
the others; whenever a sender's lease comes up short, it queues the next chunk, in id order,
in the lease's own transaction (`top_up`). The tasks themselves are all written by the launch,
all or nothing; only their cards wait.

The slices that own the tasks say which rows are cards (`card_source`): this module reads no
table of theirs, as `queue_cards` does not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.delivery.models import CardBacklog
from coordinator.delivery.queue import queue_cards

# Cards queued per statement: the launch's first, then each top-up. 20,000 cards are 11 min
# of one bot at 30 msg/s and 20 s at the paid 1,000/s, and cost ~0.25 s of PostgreSQL CPU.
CARD_CHUNK = 20_000

# A campaign's id -> (task id column, chat column, WHERE) as `queue_cards` takes them: which
# tasks of the campaign still need their card, and the chat each goes to.
CardSource = Callable[[int], tuple[Any, Any, Any]]
_SOURCES: dict[str, CardSource] = {}


def card_source(name: str, source: CardSource) -> None:
    """Register how the cards of a backlog named `name` are selected (the tasks' owner)."""
    _SOURCES[name] = source


async def queue_launch_cards(
    session: AsyncSession, campaign_id: int, source: str, after: int, last: int, now: datetime
) -> int:
    """A launch's cards: of its tasks with ids in (`after`, `last`], the first `CARD_CHUNK`
    now, the rest in a backlog that the senders drain. Returns how many were queued now."""
    upto = min(after + CARD_CHUNK, last)
    queued = await _queue_range(session, source, campaign_id, after, upto, now)
    if upto < last:
        await session.execute(
            CardBacklog.__table__.insert().values(  # type: ignore[attr-defined]
                campaign_id=campaign_id, source=source, after_id=upto, last_id=last, due=now
            )
        )
    return queued


async def top_up(session: AsyncSession) -> int:
    """Queue the next chunk of the oldest backlog no other sender is topping up, and move its
    cursor past it (or drop the backlog at its end), in the caller's transaction. Returns the
    cards queued. PostgreSQL: the row is locked FOR UPDATE SKIP LOCKED, so two senders never
    queue the same chunk and neither waits; SQLite: the lease's write transaction serializes
    them. Cursor and cards commit together, so a crash skips nothing. A chunk's ids may hold
    no card (PostgreSQL spends an id on every row a launch again skips): then the next one,
    whose index range is as cheap to look at when empty."""
    while (row := await _oldest(session)) is not None:
        upto = min(row.after_id + CARD_CHUNK, row.last_id)
        queued = await _queue_range(
            session, row.source, row.campaign_id, row.after_id, upto, row.due
        )
        table = CardBacklog.__table__  # type: ignore[attr-defined]
        if upto >= row.last_id:
            await session.execute(delete(table).where(table.c.id == row.id))
        else:
            await session.execute(update(table).where(table.c.id == row.id).values(after_id=upto))
        if queued:
            return queued
    return 0


async def _oldest(session: AsyncSession) -> Any:
    table = CardBacklog.__table__  # type: ignore[attr-defined]
    query = select(table).order_by(table.c.due, table.c.id).limit(1)
    return (await session.execute(query.with_for_update(skip_locked=True))).first()


async def drop_backlog(session: AsyncSession, campaign_id: int) -> None:
    """Nothing more of this campaign is queued (it closed or was cancelled). Called before its
    unsent cards are withdrawn: on PostgreSQL the DELETE waits for a top-up holding the row,
    so the withdrawal, a later statement, sees that top-up's cards and cancels them too."""
    table = CardBacklog.__table__  # type: ignore[attr-defined]
    await session.execute(delete(table).where(table.c.campaign_id == campaign_id))


async def waiting(session: AsyncSession) -> tuple[int, datetime | None]:
    """(cards not queued yet, at most: the id ranges left; the oldest backlog's launch)."""
    table = CardBacklog.__table__  # type: ignore[attr-defined]
    left, oldest = (
        await session.execute(
            select(func.sum(table.c.last_id - table.c.after_id), func.min(table.c.due))
        )
    ).one()
    return int(left or 0), oldest


async def _queue_range(
    session: AsyncSession, source: str, campaign_id: int, after: int, upto: int, due: datetime
) -> int:
    if source not in _SOURCES:  # the tasks' slice registers it when imported
        raise LookupError(f"no card source {source!r} is registered")
    task, chat, where = _SOURCES[source](campaign_id)
    return await queue_cards(session, task, chat, and_(where, task > after, task <= upto), due)
