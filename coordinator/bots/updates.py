"""Updates are handled once: each update_id is recorded, and a processed one is skipped."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from telegram import Update

from coordinator.base import utcnow
from coordinator.bots.models import TelegramUpdate
from coordinator.db import Database


async def store(db: Database, payload: dict[str, Any]) -> bool:
    """Record an incoming update (webhook inbox); False if this update_id was seen before."""
    try:
        async with db.write() as session:
            session.add(TelegramUpdate(update_id=int(payload["update_id"]), payload=payload))
    except IntegrityError:
        return False
    return True


async def seen_before(db: Database, update: Update) -> bool:
    """True if this update was already handled to the end; records it otherwise."""
    async with db.write() as session:
        row = await session.get(TelegramUpdate, update.update_id)
        if row is None:
            session.add(TelegramUpdate(update_id=update.update_id, payload=update.to_dict()))
            return False
        return row.processed_at is not None


async def mark_processed(db: Database, update: Update) -> None:
    async with db.write() as session:
        row = await session.get(TelegramUpdate, update.update_id)
        if row is not None:
            row.processed_at = utcnow()
