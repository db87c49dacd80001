"""The python-telegram-bot `Bot` as the sender and handlers use it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")  # durations as timedelta, as in the next major

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from coordinator.bots.aiohttp_request import AiohttpRequest

# Requests one sender keeps in flight at most (`Sender.concurrency`), and so connections.
# Paid broadcasts go at 1,000 msg/s: at a 100-250 ms round trip to Telegram that is 100-250
# requests out at once, and a crash leaves at most this many rows in doubt.
SEND_CONNECTIONS = 256


class DeferredBot(Bot):
    """A Bot whose start-up asks Telegram nothing.

    python-telegram-bot's `initialize()` calls getMe and fails when Telegram does not answer;
    here it only opens the HTTP sessions. The bot's set-up job asks getMe (retrying until it
    answers), which also fills `bot.username` for the handlers.
    """

    @property
    def id(self) -> int:
        """The bot's id is the token's first part: known without asking."""
        return int(self.token.split(":", 1)[0])

    async def initialize(self) -> None:
        if not self._requests_initialized:
            await asyncio.gather(self._request[0].initialize(), self._request[1].initialize())
            self._requests_initialized = True


def make_bot(token: str, base_url: str | None = None, connections: int = SEND_CONNECTIONS) -> Bot:
    """A Bot with a connection pool sized for concurrent sends (the library's default is 1)."""
    request = AiohttpRequest(
        connection_pool_size=connections,
        read_timeout=15,
        write_timeout=15,
        connect_timeout=5,
        pool_timeout=5,
    )
    # getUpdates long-polls on connections of its own, so it never waits behind the senders;
    # two, so that the final offset confirmation at shutdown need not wait for the long poll.
    updates = AiohttpRequest(connection_pool_size=2, read_timeout=60)
    return DeferredBot(
        token,
        base_url=base_url or "https://api.telegram.org/bot",
        request=request,
        get_updates_request=updates,
    )


def inline_keyboard(markup: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """Our plain-dict keyboards as python-telegram-bot objects."""
    if markup is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(**button) for button in row] for row in markup["inline_keyboard"]]
    )
