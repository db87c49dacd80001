"""The python-telegram-bot `Bot` as the sender and handlers use it."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")  # durations as timedelta, as in the next major

from telegram import Bot
from telegram.request import HTTPXRequest


def make_bot(token: str, base_url: str | None = None, connections: int = 64) -> Bot:
    """A Bot with a connection pool sized for concurrent sends (the library's default is 1)."""
    request = HTTPXRequest(
        connection_pool_size=connections,
        read_timeout=15,
        write_timeout=15,
        connect_timeout=5,
        pool_timeout=5,
    )
    # getUpdates long-polls on its own connection, so it never waits behind the senders.
    updates = HTTPXRequest(connection_pool_size=1, read_timeout=60)
    return Bot(
        token,
        base_url=base_url or "https://api.telegram.org/bot",
        request=request,
        get_updates_request=updates,
    )
