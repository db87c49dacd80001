"""Stored Telegram updates keep no invite token once handled, and go after the retention period."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select
from telegram import Update

from coordinator.base import utcnow
from coordinator.bots import updates
from coordinator.bots.models import TelegramUpdate
from coordinator.bots.retention import UPDATE_RETENTION, purge_handled_updates, redacted
from coordinator.delivery.models import DEFAULT_BOT

TOKEN = "inv_Zr8kQ2x1b9"


def _start(update_id: int, text: str = f"/start {TOKEN}") -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 5,
            "date": 1764547200,
            "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "Lan"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def _stored(db, update_id: int) -> TelegramUpdate:
    async with db.read() as session:
        row = await session.get(TelegramUpdate, (DEFAULT_BOT, update_id))
    assert row is not None
    return row


async def test_it_forgets_the_invite_token_once_the_inbox_handled_it(db):
    await updates.store(db, _start(1))
    assert TOKEN in str((await _stored(db, 1)).payload)  # the inbox still needs it
    await updates.mark_processed_id(db, 1)
    row = await _stored(db, 1)
    assert TOKEN not in str(row.payload)
    assert row.payload["message"]["text"] == "/start [redacted]"


async def test_it_never_stores_the_token_of_a_polled_update(db):
    update = Update.de_json(_start(2, f"/start@SomeBot {TOKEN}"), None)
    assert await updates.seen_before(db, update) is False
    assert TOKEN not in str((await _stored(db, 2)).payload)


async def test_it_purges_handled_updates_after_the_retention_period_only(db):
    now = utcnow()
    async with db.write() as session:
        session.add(TelegramUpdate(update_id=10, payload={}, processed_at=now - UPDATE_RETENTION))
        session.add(TelegramUpdate(update_id=11, payload={}, processed_at=now - timedelta(hours=1)))
        session.add(TelegramUpdate(update_id=12, payload={}))  # waiting in the inbox
        session.add(TelegramUpdate(update_id=13, payload={}, failed_at=now - UPDATE_RETENTION))
    assert await purge_handled_updates(db, now + timedelta(seconds=1)) == 2
    async with db.read() as session:
        left = set(await session.scalars(select(TelegramUpdate.update_id)))
    assert left == {11, 12}


@given(st.text(max_size=60))
def test_it_leaves_every_other_text_alone(text):
    payload = _start(3, text)
    clean = redacted(payload)
    command, _, argument = text.partition(" ")
    if text.startswith("/start") and argument:
        assert clean["message"]["text"] == f"{command} [redacted]"
    else:
        assert clean == payload
    assert payload["message"]["text"] == text  # the original is never changed
