"""Running the bot and the sender inside our own asyncio lifecycle (not run_polling)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application

from coordinator.bots import handlers, updates
from coordinator.bots.presses import PressQueue
from coordinator.bots.sender import Sender
from coordinator.bots.telegram_client import make_bot
from coordinator.db import Database
from coordinator.settings import Settings

logger = logging.getLogger("coordinator.bot")
UPDATES = ["message", "callback_query", "my_chat_member"]
COMMANDS = {
    "vi": [
        ("tasks", "Nhiệm vụ đang mở"),
        ("stop", "Ngừng nhận nhiệm vụ"),
        ("lang", "Đổi ngôn ngữ: /lang vi | /lang en"),
        ("help", "Hướng dẫn"),
    ],
    "en": [
        ("tasks", "Your open tasks"),
        ("stop", "Stop receiving tasks"),
        ("lang", "Language: /lang vi | /lang en"),
        ("help", "Help"),
    ],
}


@dataclass
class Telegram:
    application: Application[Any, Any, Any, Any, Any, Any]
    sender: Sender


def build(db: Database, settings: Settings, token: str, base_url: str | None) -> Telegram:
    bot = make_bot(token, base_url)
    # Updates are handled concurrently: the more presses in flight, the more each commit of the
    # press queue records at once. Each press locks its own task row, so order per task holds.
    application = Application.builder().bot(bot).concurrent_updates(256).build()
    application.bot_data.update(
        db=db,
        timezone=settings.timezone,
        locale=settings.locale,
        presses=PressQueue(db, settings.locale),
    )
    handlers.install(application)
    sender = Sender(
        db,
        bot,
        rate=settings.send_rate,
        timezone=settings.timezone,
        locale=settings.locale,
        paid_broadcast=settings.paid_broadcast,
    )
    return Telegram(application, sender)


async def handle_inbox(telegram: Telegram, stop: asyncio.Event, idle: float = 0.2) -> None:
    """Webhook mode: handle the updates the web route stored, oldest first, each once."""
    app = telegram.application
    db: Database = app.bot_data["db"]
    while not stop.is_set():
        pending = await updates.unprocessed(db)
        for payload in pending:
            try:
                await app.process_update(Update.de_json(payload, app.bot))
            finally:  # a failing update must not block the ones behind it
                await updates.mark_processed_id(db, int(payload["update_id"]))
        if not pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle)


@contextlib.asynccontextmanager
async def running(
    telegram: Telegram, *, webhook: tuple[str, str] | None = None
) -> AsyncIterator[Telegram]:
    """The bot and the sender until the block ends. The bot polls, or with `webhook`
    (url, secret) registers it and handles the inbox the web route fills."""
    app = telegram.application
    stop = asyncio.Event()
    async with app:
        for language, commands in COMMANDS.items():
            await app.bot.set_my_commands(
                [BotCommand(c, d) for c, d in commands], language_code=language
            )
        await app.start()
        tasks = [asyncio.create_task(telegram.sender.run(stop))]
        if webhook is not None:
            await app.bot.set_webhook(webhook[0], secret_token=webhook[1], allowed_updates=UPDATES)
            tasks.append(asyncio.create_task(handle_inbox(telegram, stop)))
        elif app.updater is not None:
            await app.bot.delete_webhook()
            await app.updater.start_polling(allowed_updates=UPDATES, timeout=20, poll_interval=0.0)
        try:
            yield telegram
        finally:
            stop.set()
            telegram.sender.wake.set()
            await asyncio.gather(*tasks)
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
