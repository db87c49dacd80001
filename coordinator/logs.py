"""Logging rules that hold in every process: no secrets, no per-request chatter from libraries."""

from __future__ import annotations

import logging

# httpx logs each request's URL at INFO, and a Bot API URL carries the bot token
# (https://api.telegram.org/bot<token>/sendMessage). APScheduler logs every tick at INFO.
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING}


def quiet_libraries() -> None:
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)
