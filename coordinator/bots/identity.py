"""The bot's identity as Telegram tells it (getMe), kept in `bot_state`, and every deep link.

Deep links name the bot, and a link that names the wrong bot hands its single-use secret to a
stranger. So the name is never guessed: it is what getMe answered (or the name the sandbox was
started with, which the sandbox's getMe answers), and until that is known links are refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import utcnow
from coordinator.bots.models import BotState
from coordinator.db import Database, upsert_insert
from coordinator.errors import DomainError

STATE_ID = 1
BOT_NOT_KNOWN = (
    "The bot's Telegram name is not known yet, so no link can be made. "
    "Try again in a minute; if it persists, check the bot token and Telegram's reachability."
)


class BotNotKnown(DomainError):
    status = 503
    title = "The bot is not ready"
    code = "bot_not_known"

    def __init__(self) -> None:
        super().__init__(BOT_NOT_KNOWN)


async def bot_username(session: AsyncSession) -> str:
    """The name getMe gave; BotNotKnown until it has answered."""
    state = await session.get(BotState, STATE_ID)
    if state is None or not state.username:
        raise BotNotKnown
    return state.username


def deep_link(username: str, parameter: str, value: str) -> str:
    """The one place a t.me link is built. Telegram allows A-Z a-z 0-9 _ - in `value`."""
    return f"https://t.me/{username}?{parameter}={value}"


async def _state(session: AsyncSession) -> BotState:
    """The one state row, locked for this transaction. The set-up jobs write it concurrently at
    start-up: the first insert wins and the others wait for it (ON CONFLICT DO NOTHING, then
    FOR UPDATE), where a plain get-or-add made one of them fail on the primary key."""
    await session.execute(
        upsert_insert(session)(BotState).values(id=STATE_ID).on_conflict_do_nothing()
    )
    state = await session.get(BotState, STATE_ID, with_for_update=True, populate_existing=True)
    assert state is not None
    return state


async def expect_bot(db: Database, bot_id: int) -> None:
    """At start-up: a name stored for another bot (the token changed) is forgotten, so that
    no link names the old bot while getMe has not answered for the new one."""
    async with db.write() as session:
        state = await _state(session)
        if state.bot_id != bot_id:
            state.bot_id, state.username, state.identity_at = bot_id, None, None
            state.commands_at = state.webhook_at = None


async def record_identity(db: Database, bot_id: int, username: str) -> None:
    async with db.write() as session:
        state = await _state(session)
        state.bot_id, state.username, state.identity_at = bot_id, username, utcnow()


async def record_step(db: Database, step: str, *, mode: str | None = None) -> None:
    """A set-up step done: `commands`, or `webhook` (with the mode it set up)."""
    async with db.write() as session:
        state = await _state(session)
        now = utcnow()
        if step == "commands":
            state.commands_at = now
        else:
            state.webhook_mode, state.webhook_at = mode, now


async def record_error(db: Database, error: str) -> None:
    async with db.write() as session:
        state = await _state(session)
        state.last_error, state.last_error_at = error[:500], utcnow()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def bot_status(db: Database) -> dict[str, object]:
    """What readiness and admins see: is the name known, what is set up, the last error."""
    async with db.read() as session:
        state = await session.get(BotState, STATE_ID) or BotState(id=STATE_ID)
    return {
        "username": state.username,
        "identity_known": bool(state.username),
        "identity_at": _iso(state.identity_at),
        "commands_registered": state.commands_at is not None,
        "updates": state.webhook_mode,
        "updates_set_at": _iso(state.webhook_at),
        "last_error": state.last_error,
        "last_error_at": _iso(state.last_error_at),
    }
