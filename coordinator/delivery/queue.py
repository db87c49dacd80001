"""Putting messages in the outbox once (a dedupe key each), and taking them back out.

The callers own the rows a message is about; they hand in the chats, the texts and, for task
cards, the SELECT of (assignment id, chat id) that says which. Nothing here reads their tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, cast, delete, func, insert, literal
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from coordinator.base import UTCDateTime, utcnow
from coordinator.db import Database, upsert_insert
from coordinator.delivery.models import DEFAULT_BOT, BotChat, OutboxMessage

EDIT_WINDOW = 5  # seconds: at most one edit of a group message per window
_KEYS_AT_ONCE = 5_000  # dedupe keys looked up per statement (both drivers cap bound values)


@dataclass(frozen=True)
class Text:
    """A plain HTML message to one chat, sent once per dedupe key."""

    chat_id: int
    dedupe_key: str
    text: str


async def queued_keys(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of these dedupe keys are queued already (in any status)."""
    wanted, taken = list(keys), set[str]()
    for start in range(0, len(wanted), _KEYS_AT_ONCE):
        chunk = wanted[start : start + _KEYS_AT_ONCE]
        found = await session.scalars(
            select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(chunk))
        )
        taken.update(found.all())
    return taken


async def link_chat(session: AsyncSession, chat_id: int, bot: int) -> None:
    """This chat now talks to `bot` (it was linked through it): what is queued for it from now
    on goes through that bot. The default bot's chats need no row."""
    await session.execute(delete(BotChat).where(col(BotChat.chat_id) == chat_id))
    if bot != DEFAULT_BOT:
        session.add(BotChat(chat_id=chat_id, bot_id=bot))
    # What still waits for this chat goes through the bot it now talks to.
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.chat_id) == chat_id, col(OutboxMessage.status) == "pending")
        .values(bot_id=bot)
    )


async def chat_bots(session: AsyncSession, chat_ids: Iterable[int]) -> dict[int, int]:
    """The bot of each of these chats that talks to another bot than the default."""
    wanted, bots = sorted(set(chat_ids)), dict[int, int]()
    for start in range(0, len(wanted), _KEYS_AT_ONCE):
        chunk = wanted[start : start + _KEYS_AT_ONCE]
        found = await session.execute(
            select(BotChat.chat_id, BotChat.bot_id).where(col(BotChat.chat_id).in_(chunk))
        )
        bots.update({int(chat): int(bot) for chat, bot in found.all()})
    return bots


async def queue_once(session: AsyncSession, messages: Sequence[OutboxMessage]) -> int:
    """Add each message unless a row with its dedupe key exists (or an earlier one in the
    list has it): rows queued earlier in the same transaction count too. Returns how many
    were added. Each goes through the bot its chat talks to: outbox rows are made here (and
    in `queue_rows`) or in `queue_cards`, and both decide the bot the same way."""
    return await queue_rows(session, [m.model_dump(exclude={"id"}) for m in messages])


def outbox_row(
    dedupe_key: str, chat_id: int, kind: str, payload: dict[str, Any], due: datetime
) -> dict[str, Any]:
    """A pending outbox row as `queue_rows` takes it. Many messages at once skip the model:
    building 1,000 `OutboxMessage` instances (SQLModel validates each) was half of a launch
    through 1,000 organizations."""
    return {
        "dedupe_key": dedupe_key,
        "chat_id": chat_id,
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": utcnow(),
    }


async def queue_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """`queue_once` for rows (`outbox_row`): the new ones go in one executemany (through the
    ORM, row by row, 1,000 task messages took seconds on PostgreSQL)."""
    taken = await queued_keys(session, (r["dedupe_key"] for r in rows))
    fresh = []
    for row in rows:
        if row["dedupe_key"] not in taken:
            taken.add(row["dedupe_key"])
            fresh.append(row)
    if fresh:
        bots = await chat_bots(session, (r["chat_id"] for r in fresh))
        for row in fresh:
            row["bot_id"] = bots.get(row["chat_id"], DEFAULT_BOT)
        await session.execute(insert(OutboxMessage), fresh)
    return len(fresh)


async def queue_texts(session: AsyncSession, texts: Iterable[Text], now: datetime) -> int:
    """Queue each text once per dedupe key; returns how many were new."""
    return await queue_once(
        session,
        [
            OutboxMessage(
                dedupe_key=t.dedupe_key,
                chat_id=t.chat_id,
                kind="text",
                payload={"text": t.text},
                next_attempt_at=now,
            )
            for t in texts
        ],
    )


async def queue_text(
    session: AsyncSession, chat_id: int, dedupe_key: str, text: str, now: datetime
) -> bool:
    """Queue a plain HTML message once per dedupe key; False if it was queued before."""
    return await queue_texts(session, [Text(chat_id, dedupe_key, text)], now) == 1


async def queue_group_edit(
    db: Database, assignment_id: int, chat_id: int, now: datetime | None = None
) -> bool:
    """Ask for the group message to show fresh counts, coalesced to one edit per window."""
    async with db.write() as session:
        return await queue_group_edit_in(session, assignment_id, chat_id, now or utcnow())


async def queue_group_edit_in(
    session: AsyncSession, assignment_id: int, chat_id: int, now: datetime
) -> bool:
    """The same, in the caller's transaction; False when an edit in this window is queued."""
    window = int(now.timestamp()) // EDIT_WINDOW
    due = datetime.fromtimestamp((window + 1) * EDIT_WINDOW, tz=now.tzinfo)
    edit = OutboxMessage(
        dedupe_key=f"edit:{assignment_id}:{window}",
        chat_id=chat_id,
        kind="edit",
        assignment_id=assignment_id,
        next_attempt_at=due,
    )
    return await queue_once(session, [edit]) == 1


async def queue_cards(
    session: AsyncSession, task: Any, chat: Any, where: Any, now: datetime
) -> int:
    """One task card (dedupe key `assignment:<id>`) per row of `task`, `chat` WHERE `where`
    that has none, in one INSERT ... SELECT: the dedupe key's unique index skips the rest.
    `chat` is best a column of a table `where` joins (not a correlated subquery, which
    PostgreSQL evaluates again for the `bot_chat` join below).
    (Not NOT EXISTS: PostgreSQL plans it as a nested loop over the outbox pages this very
    statement is filling, 64 s for 90,000 rows in a populated database.) Each card goes
    through the bot its chat talks to, as in `queue_once`: an outer join on `bot_chat`.
    Returns how many were queued."""
    when = literal(now, UTCDateTime())
    picked = sa_select(task.label("task"), chat.label("chat")).where(where).subquery("picked")
    rows = sa_select(
        literal("assignment:") + cast(picked.c.task, String),
        picked.c.chat,
        func.coalesce(BotChat.bot_id, DEFAULT_BOT),
        literal("assignment"),
        literal({}, JSON()),
        picked.c.task,
        literal("pending"),
        literal(0),
        when,
        when,
    ).select_from(picked.outerjoin(BotChat, col(BotChat.chat_id) == picked.c.chat))
    result = await session.execute(
        upsert_insert(session)(OutboxMessage)
        .from_select(
            [
                "dedupe_key",
                "chat_id",
                "bot_id",
                "kind",
                "payload",
                "assignment_id",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def withdraw_cards(session: AsyncSession, tasks: Any, reason: str) -> None:
    """Unsent messages about these tasks (a SELECT of assignment ids) are cancelled."""
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.assignment_id).in_(tasks), col(OutboxMessage.status) == "pending")
        .values(status="cancelled", error=reason)
    )


async def resend_refused_cards(
    session: AsyncSession, tasks: Any, chat_id: int, now: datetime, reason: str
) -> None:
    """Task cards of these tasks (a SELECT of assignment ids) that Telegram refused go out
    again, to `chat_id`."""
    await session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.kind) == "assignment",
            col(OutboxMessage.status) == "failed",
            col(OutboxMessage.assignment_id).in_(tasks),
        )
        .values(
            status="pending",
            next_attempt_at=now,
            chat_id=chat_id,
            error=reason,
            bot_id=(await chat_bots(session, [chat_id])).get(chat_id, DEFAULT_BOT),
        )
    )


async def move_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """The outbox's part of a chat migration (a group became a supergroup): what is still
    queued for the old chat goes to the new one, and the new chat talks to the same bot."""
    await session.execute(
        update(BotChat).where(col(BotChat.chat_id) == old_chat_id).values(chat_id=new_chat_id)
    )
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.chat_id) == old_chat_id, col(OutboxMessage.status) == "pending")
        .values(chat_id=new_chat_id)
    )
