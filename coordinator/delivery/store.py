"""The outbox as a queue in the database: lease due rows, record outcomes, reap stale leases.

What an outcome changes outside the outbox belongs to the slices that own those rows; the
sender hands their functions in as a `Settle`, run in the same transaction as the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from coordinator.base import utcnow
from coordinator.db import Database, id_pairs
from coordinator.delivery import backlog
from coordinator.delivery.models import DEFAULT_BOT, OutboxMessage

# A lease covers the wait for a pacing slot and the request's own timeouts; the sender sizes it
# from its client (`Sender.lease_for`), so a crashed sender's rows come back in seconds.
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class Leased:
    id: int
    kind: str
    chat_id: int
    assignment_id: int | None
    payload: dict[str, Any]
    attempts: int
    bot: int = DEFAULT_BOT


Load = Callable[[AsyncSession, list[Leased]], Awaitable[None]]


async def lease(
    db: Database,
    limit: int,
    now: datetime | None = None,
    lease_for: timedelta = LEASE,
    bot: int = DEFAULT_BOT,
    load: Load | None = None,
) -> list[Leased]:
    """Claim up to `limit` due rows of this bot and mark them `sending` in their own commit.

    PostgreSQL skips rows another sender holds (FOR UPDATE SKIP LOCKED); SQLite serializes
    the claim with BEGIN IMMEDIATE, so two senders never claim the same row. `load` reads what
    the caller needs about the claimed rows in the same transaction (one commit, not two).
    """
    now = now or utcnow()
    async with db.write() as session:
        return await _lease_in(session, limit, now, lease_for, bot, load)


async def _lease_in(
    session: AsyncSession,
    limit: int,
    now: datetime,
    lease_for: timedelta,
    bot: int,
    load: Load | None = None,
) -> list[Leased]:
    """Claim up to `limit` due rows; when this bot has fewer, queue the next chunk of a
    launch's task cards (`backlog.top_up`) and claim from them too, in this transaction: the
    sender never waits for the cards a launch left to it."""
    leased = await _claim(session, limit, now, lease_for, bot)
    if len(leased) < limit and await backlog.top_up(session):
        leased += await _claim(session, limit - len(leased), now, lease_for, bot)
    if load is not None and leased:
        await load(session, leased)
    return leased


async def _claim(
    session: AsyncSession, limit: int, now: datetime, lease_for: timedelta, bot: int
) -> list[Leased]:
    """One statement claims and returns the rows (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
    SKIP LOCKED) RETURNING), in core SQL: no ORM object per row, no second round trip."""
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    due = (
        select(outbox.c.id)
        .where(
            outbox.c.status == "pending",
            outbox.c.bot_id == bot,
            outbox.c.next_attempt_at <= now,
        )
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.execute(
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(status="sending", lease_until=now + lease_for, attempts=outbox.c.attempts + 1)
        .returning(*(outbox.c[name] for name in _LEASED), outbox.c.next_attempt_at)
    )
    # RETURNING keeps no order: the queue's order is (next_attempt_at, id).
    rows = sorted(claimed.all(), key=lambda r: (r.next_attempt_at, r.id))
    return [
        Leased(r.id, r.kind, r.chat_id, r.assignment_id, dict(r.payload), r.attempts, bot)
        for r in rows
    ]


_LEASED = ("id", "kind", "chat_id", "assignment_id", "payload", "attempts")


@dataclass
class Outcome:
    """What happened to one leased row; `record` turns a batch of these into row updates."""

    row: Leased
    status: str  # sent | pending | failed | uncertain
    message_id: int | None = None
    error: str | None = None
    retry_at: datetime | None = None
    refund_attempt: bool = False  # a 429 is not a failure
    unreachable: bool = False
    new_chat_id: int | None = None
    payload: dict[str, Any] | None = None


Card = tuple[int, int | None]  # a task card that went out: (assignment id, message id)


@dataclass(frozen=True)
class Settle:
    """What outcomes change outside the outbox, in the record's own transaction; each is
    owned by the slice whose rows it writes. `delivered` and `unreachable` run before any
    outbox row is touched (their rows' triggers lock tally summary lines: see `_record_in`)."""

    delivered: Callable[[AsyncSession, list[Card], datetime], Awaitable[None]]
    unreachable: Callable[[AsyncSession, int, datetime], Awaitable[None]]  # a chat id
    migrated: Callable[[AsyncSession, int, int], Awaitable[None]]  # old and new chat id


async def record(
    db: Database, outcomes: Sequence[Outcome], settle: Settle, now: datetime | None = None
) -> None:
    """Apply a batch of outcomes in one transaction; the common case, sent, in bulk."""
    now = now or utcnow()
    if not outcomes:
        return

    async def work(session: AsyncSession) -> None:
        await _record_in(session, outcomes, settle, now)

    await db.transaction(work)  # a deadlock aborts the record: it runs again, nothing lost


async def record_and_lease(
    db: Database,
    outcomes: Sequence[Outcome],
    limit: int,
    settle: Settle,
    lease_for: timedelta = LEASE,
    bot: int = DEFAULT_BOT,
    load: Load | None = None,
) -> list[Leased]:
    """`record` these outcomes and `lease` up to `limit` more rows, in one transaction: the
    sender's steady state, one commit per round instead of two."""
    now = utcnow()

    async def work(session: AsyncSession) -> list[Leased]:
        await _record_in(session, outcomes, settle, now)
        return await _lease_in(session, limit, now, lease_for, bot, load) if limit > 0 else []

    return await db.transaction(work)  # a deadlock aborts the round: it runs again


async def _record_in(
    session: AsyncSession, outcomes: Sequence[Outcome], settle: Settle, now: datetime
) -> None:
    """Other slices' rows first, then the outbox's, each in id order. A launch takes the tally
    summary's locks (its assignment triggers) before it inserts outbox rows; recording in the
    same order (assignments, members and groups, whose triggers lock the summary, then outbox
    rows) leaves no lock-order inversion for PostgreSQL to call a deadlock."""
    outcomes = sorted(outcomes, key=lambda o: o.row.id)
    sent = [o for o in outcomes if o.status == "sent"]
    others = [o for o in outcomes if o.status != "sent"]
    cards: list[Card] = sorted(
        (
            (task, o.message_id)
            for o in sent
            if o.row.kind == "assignment" and (task := o.row.assignment_id) is not None
        ),
        key=lambda card: card[0],
    )
    if cards:
        await settle.delivered(session, cards, now)
    refused = sorted({o.row.chat_id for o in others if o.unreachable})
    for chat_id in refused:
        await settle.unreachable(session, chat_id, now)
    if sent:
        await _record_sent(session, sent, now)
    for o in others:
        await _record_one(session, o)
    bots = {o.row.chat_id: o.row.bot for o in others if o.unreachable}
    for chat_id in refused:  # nothing else queued for that chat will get through that bot
        await session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.chat_id) == chat_id,
                col(OutboxMessage.bot_id) == bots[chat_id],
                col(OutboxMessage.status) == "pending",
            )
            .values(status="failed", error="chat unreachable")
        )
    for o in others:
        if o.new_chat_id is not None:
            await settle.migrated(session, o.row.chat_id, o.new_chat_id)


async def _record_sent(session: AsyncSession, sent: Sequence[Outcome], now: datetime) -> None:
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    # Only a row still leased by us is ours to settle (the reaper may have taken it).
    done = update(outbox).values(status="sent", sent_at=now, lease_until=None, error=None)
    pairs = id_pairs(session, [(o.row.id, o.message_id) for o in sent])
    if pairs is not None:  # PostgreSQL: one set-based statement
        await session.execute(
            done.where(outbox.c.id == pairs.c.id, outbox.c.status == "sending").values(
                telegram_message_id=pairs.c.value
            )
        )
        return
    await session.execute(
        done.where(outbox.c.id == bindparam("row_id"), outbox.c.status == "sending").values(
            telegram_message_id=bindparam("message_id")
        ),
        [{"row_id": o.row.id, "message_id": o.message_id} for o in sent],
    )


async def _record_one(session: AsyncSession, o: Outcome) -> None:
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"status": o.status, "lease_until": None, "error": o.error}
    if o.retry_at is not None:
        values["next_attempt_at"] = o.retry_at
    if o.refund_attempt:
        values["attempts"] = outbox.c.attempts - 1
    if o.new_chat_id is not None:
        values["chat_id"] = o.new_chat_id
    if o.payload is not None:
        values["payload"] = o.payload
    # Core SQL: an ORM update would look for the row among the session's objects first.
    await session.execute(
        update(outbox).where(outbox.c.id == o.row.id, outbox.c.status == "sending").values(**values)
    )


def after_uncertain(kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The one policy for a row whose send may or may not have reached Telegram (a crash left
    its lease to expire, or the answer timed out after the request went out).

    Every kind is sent once more, marked `resent`: an assignment or a text comes with a note
    that it is a copy, an edit needs none (editing twice shows the same thing). If the second
    try is uncertain too, nothing is sent blindly again: an assignment or a text stays
    `uncertain` and is listed for the operators (with a Retry); a counter edit is dropped as
    `cancelled` (the next edit carries fresher counts) and counted in the outbox summary.
    Returns (status, payload, error).
    """
    if not payload.get("resent"):
        return "pending", {**payload, "resent": True}, "uncertain; resent once as a copy"
    if kind == "edit":
        return "cancelled", payload, "uncertain twice; dropped (the next edit has fresh counts)"
    return "uncertain", payload, "uncertain twice; not resent blindly: see the outbox page"


def lease_expired(row: OutboxMessage, now: datetime) -> None:
    """An expired lease: the sender stopped before it knew the result."""
    row.status, row.payload, policy = after_uncertain(row.kind, dict(row.payload))
    # It keeps its place in the queue: the copy goes before what was queued after it, so the
    # volunteers a crash left in doubt are settled first, not after the rest of the campaign.
    row.lease_until, row.next_attempt_at = None, min(row.next_attempt_at, now)
    row.error = f"lease expired: {policy}"


async def reap(
    db: Database, now: datetime | None = None, *, every_lease: bool = False, bot: int = DEFAULT_BOT
) -> int:
    """Expired `sending` leases get the uncertain policy (`after_uncertain`); returns how many.

    Only expired leases: a row another sender holds right now is left alone. `every_lease` is
    for a sender that has just been elected: one sender runs per bot, so every row of its bot still
    `sending` belonged to the one before it, which lost its lock (died, or lost its database
    connection); waiting out those leases would only delay the copies by half a minute.
    Each bot's sender reaps its own bot's rows only.
    """
    now = now or utcnow()
    taken = (col(OutboxMessage.status) == "sending") & (col(OutboxMessage.bot_id) == bot)
    if not every_lease:
        taken = taken & (col(OutboxMessage.lease_until) < now)
    async with db.write() as session:
        stale = (
            await session.scalars(
                select(OutboxMessage).where(taken).with_for_update(skip_locked=True)
            )
        ).all()
        for row in stale:
            lease_expired(row, now)
        return len(stale)
