"""What we keep of Telegram updates: no secrets, and not for ever.

`/start <token>` carries a single-use invite or link token in plain text. The inbox needs it
until the update is handled; after that the stored copy keeps only the command. Handled (and
failed) updates are deleted after `UPDATE_RETENTION`: they exist to make handling idempotent,
and Telegram never redelivers an update that old.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, delete

from coordinator.bots.models import TelegramUpdate
from coordinator.db import Database

UPDATE_RETENTION = timedelta(days=7)
REDACTED = "[redacted]"
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")


def redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of `payload` whose `/start` arguments are replaced by a marker."""
    clean = copy.deepcopy(payload)
    for key in _MESSAGE_KEYS:
        message = clean.get(key)
        if not isinstance(message, dict):
            continue
        text = message.get("text")
        if isinstance(text, str) and text.startswith("/start"):
            command, _, argument = text.partition(" ")
            if argument:
                message["text"] = f"{command} {REDACTED}"
                message.pop("entities", None)
    return clean


async def purge_handled_updates(db: Database, now: datetime) -> int:
    """Delete handled (or failed) updates older than the retention period; returns how many."""
    cutoff = now - UPDATE_RETENTION
    async with db.write() as session:
        result = await session.execute(
            delete(TelegramUpdate).where(
                or_(
                    col(TelegramUpdate.processed_at) < cutoff,
                    col(TelegramUpdate.failed_at) < cutoff,
                )
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
