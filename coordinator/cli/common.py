"""What every command shares: one clear line on bad input (exit 2), asyncio, a database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from coordinator.errors import DomainError, english_errors
from coordinator.sandbox.state import DEFAULT_BOT_USERNAME
from coordinator.settings import SettingsError

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


BOT_USERNAME = click.option(
    "--sandbox-bot-username",
    default=DEFAULT_BOT_USERNAME,
    show_default=True,
    callback=lambda _c, _p, value: valid_bot_username(value),
    help="The name the built-in sandbox's bot answers getMe with (links use it).",
)


def valid_bot_username(value: str) -> str:
    """Telegram's rule for bot names: 5-32 of A-Z a-z 0-9 _, ending in 'bot'."""
    import re

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]", value):
        raise click.BadParameter("5-32 letters, digits or _, starting with a letter, ending in bot")
    return value


def fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def friendly(func: Callable[..., T]) -> Callable[..., T]:
    """Turn rule violations and bad settings into one clear line and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            fail(str(exc))
        except DomainError as exc:
            details = "".join(
                f"\n  - {e.get('field') or e.get('line')}: {e['message']}"
                for e in english_errors(exc.errors[:20])
            )
            if len(exc.errors) > 20:
                details += f"\n  ... and {len(exc.errors) - 20} more"
            fail(f"{exc.detail}{details}")
        raise AssertionError("unreachable")

    return wrapper


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    from coordinator.db import Database
    from coordinator.settings import get_settings

    db = Database(get_settings().database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()
