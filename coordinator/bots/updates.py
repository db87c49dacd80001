"""Updates are handled once: each update_id is recorded, and a processed one is skipped.

Update ids are counted by Telegram per bot, so an update is known by (bot, update_id).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from telegram import Update

from coordinator.base import utcnow
from coordinator.bots.models import TelegramUpdate
from coordinator.bots.retention import redacted
from coordinator.db import Database
from coordinator.delivery.models import DEFAULT_BOT


class RawUpdates:
    """Each update as Telegram sent it, from the poller (or the webhook inbox) to its handler:
    a press keeps its update as received, and `Update.to_dict()` rebuilding it from the parsed
    objects cost a press more than recording it. Bounded: an update whose handler never asks
    (not a press) is forgotten after `most` newer ones, and a handler that finds nothing here
    falls back to `to_dict()`."""

    def __init__(self, most: int = 4096) -> None:
        self.most = most
        self._raw: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def keep(self, raw: dict[str, Any]) -> None:
        self._raw[int(raw["update_id"])] = raw
        while len(self._raw) > self.most:
            self._raw.popitem(last=False)

    def take(self, update: Update) -> dict[str, Any]:
        raw = self._raw.pop(update.update_id, None)
        return raw if raw is not None else update.to_dict()


async def store(db: Database, payload: dict[str, Any], bot: int = DEFAULT_BOT) -> bool:
    """Record an incoming update (webhook inbox); False if this update_id was seen before."""
    try:
        async with db.write() as session:
            session.add(
                TelegramUpdate(bot_id=bot, update_id=int(payload["update_id"]), payload=payload)
            )
    except IntegrityError:
        return False
    return True


async def seen_before(db: Database, update: Update, bot: int = DEFAULT_BOT) -> bool:
    """True if this update was already handled to the end; records it otherwise."""
    async with db.write() as session:
        row = await session.get(TelegramUpdate, (bot, update.update_id))
        if row is None:
            payload = redacted(update.to_dict())  # handled from memory: keep no token
            session.add(TelegramUpdate(bot_id=bot, update_id=update.update_id, payload=payload))
            return False
        return row.processed_at is not None


async def mark_processed(db: Database, update: Update, bot: int = DEFAULT_BOT) -> None:
    async with db.write() as session:
        row = await session.get(TelegramUpdate, (bot, update.update_id))
        if row is not None:
            row.processed_at = utcnow()
            row.payload = redacted(row.payload)


async def unprocessed(
    db: Database, limit: int = 100, bot: int = DEFAULT_BOT
) -> list[dict[str, Any]]:
    """This bot's stored updates not handled yet, oldest first (the webhook inbox)."""
    async with db.read() as session:
        rows = await session.scalars(
            select(TelegramUpdate)
            .where(
                col(TelegramUpdate.bot_id) == bot,
                col(TelegramUpdate.processed_at).is_(None),
                col(TelegramUpdate.failed_at).is_(None),
            )
            .order_by(col(TelegramUpdate.update_id))
            .limit(limit)
        )
        return [row.payload for row in rows]


async def mark_processed_id(db: Database, update_id: int, bot: int = DEFAULT_BOT) -> None:
    async with db.write() as session:
        row = await session.get(TelegramUpdate, (bot, update_id))
        if row is not None and row.processed_at is None:
            row.processed_at = utcnow()
            row.payload = redacted(row.payload)  # the inbox needed the token until now


async def mark_failed(db: Database, update_id: int, error: str, bot: int = DEFAULT_BOT) -> None:
    """An update that could not be handled: kept as failed with why, never handled again."""
    async with db.write() as session:
        row = await session.get(TelegramUpdate, (bot, update_id))
        if row is not None and row.failed_at is None:
            row.failed_at, row.error = utcnow(), error[:500]
            row.payload = redacted(row.payload)  # never handled again: the token is not needed
