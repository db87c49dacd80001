"""The bots' identities as Telegram tells them (getMe), kept in `bot`, and every deep link.

Deep links name the bot, and a link that names the wrong bot hands its single-use secret to a
stranger. So the name is never guessed: it is what getMe answered (or the name the sandbox was
started with, which the sandbox's getMe answers), and until that is known links are refused.

A deployment may run several bots, each serving an organization subtree; which bot serves an
organization is decided in one place, `bot_of`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import literal
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots.models import BotRecord
from coordinator.db import Database, upsert_insert
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.errors import DomainError
from coordinator.organizations.models import Organization
from coordinator.settings import DEFAULT_BOT_NAME, BotConfig, SettingsError

STATE_ID = DEFAULT_BOT
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


async def bot_of(session: AsyncSession, organization_id: int) -> int:
    """The bot serving an organization: the bot of its nearest ancestor (itself included)
    that has one, else the default bot. The one place this is decided."""
    chain = (
        select(
            col(Organization.id).label("id"),
            col(Organization.parent_id).label("parent_id"),
            literal(0).label("depth"),
        )
        .where(Organization.id == organization_id)
        .cte(recursive=True)
    )
    chain = chain.union_all(
        select(Organization.id, Organization.parent_id, chain.c.depth + 1).where(
            Organization.id == chain.c.parent_id
        )
    )
    nearest = await session.scalar(
        select(BotRecord.id)
        .join(chain, chain.c.id == BotRecord.organization_id)
        .order_by(chain.c.depth)
        .limit(1)
    )
    return int(nearest) if nearest is not None else DEFAULT_BOT


async def bot_username(session: AsyncSession, bot: int = DEFAULT_BOT) -> str:
    """The name getMe gave this bot; BotNotKnown until it has answered."""
    state = await session.get(BotRecord, bot)
    if state is None or not state.username:
        raise BotNotKnown
    return state.username


async def username_for(session: AsyncSession, organization_id: int) -> str:
    """The name of the bot serving this organization: every deep link for it names that bot."""
    return await bot_username(session, await bot_of(session, organization_id))


class UnknownOrganization(SettingsError):
    """A configured bot names an organization that does not exist."""


async def sync_bots(db: Database, bots: tuple[BotConfig, ...]) -> dict[str, int]:
    """`_sync` once more when another process starting at the same moment added the same new
    bot first (PostgreSQL; SQLite's writers queue)."""
    for attempt in range(3):
        try:
            return await _sync(db, bots)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _sync(db: Database, bots: tuple[BotConfig, ...]) -> dict[str, int]:
    """Make the `bot` table say what the settings say: each configured bot (by name) serves
    its organization's subtree, a bot no longer configured serves nothing. A bot keeps its id
    for life (its chats and messages name it); a new one gets the next. Returns name -> id."""
    async with db.write() as session:
        await _state(session, DEFAULT_BOT)
        for config in bots:
            if await session.get(Organization, config.organization_id) is None:
                raise UnknownOrganization(
                    f"COORDINATOR_TELEGRAM_BOTS: bot {config.name!r} serves organization "
                    f"{config.organization_id}, which does not exist"
                )
        rows = {r.name: r for r in (await session.scalars(select(BotRecord))).all()}
        wanted = {b.name: b.organization_id for b in bots}
        for row in rows.values():  # free every subtree first: two bots may swap provinces
            if row.id != DEFAULT_BOT and wanted.get(row.name) != row.organization_id:
                row.organization_id = None
        await session.flush()
        next_id = max([DEFAULT_BOT, *(r.id for r in rows.values())]) + 1
        for name, organization_id in wanted.items():
            if name not in rows:
                rows[name] = BotRecord(id=next_id, name=name)
                session.add(rows[name])
                next_id += 1
            rows[name].organization_id = organization_id
        return {DEFAULT_BOT_NAME: DEFAULT_BOT} | {n: rows[n].id for n in wanted}


def deep_link(username: str, parameter: str, value: str) -> str:
    """The one place a t.me link is built. Telegram allows A-Z a-z 0-9 _ - in `value`."""
    return f"https://t.me/{username}?{parameter}={value}"


async def _state(session: AsyncSession, bot: int) -> BotRecord:
    """A bot's row, locked for this transaction. The set-up jobs write it concurrently at
    start-up: the first insert wins and the others wait for it (ON CONFLICT DO NOTHING, then
    FOR UPDATE), where a plain get-or-add made one of them fail on the primary key. (Only the
    default bot's row is made here; the others are made by `sync_bots`.)"""
    if bot == DEFAULT_BOT:
        await session.execute(
            upsert_insert(session)(BotRecord)
            .values(id=DEFAULT_BOT, name=DEFAULT_BOT_NAME)
            .on_conflict_do_nothing()
        )
    state = await session.get(BotRecord, bot, with_for_update=True, populate_existing=True)
    if state is None:
        raise LookupError(f"bot {bot} is not registered")
    return state


async def expect_bot(db: Database, bot_id: int, bot: int = DEFAULT_BOT) -> None:
    """At start-up: a name stored for another bot (the token changed) is forgotten, so that
    no link names the old bot while getMe has not answered for the new one."""
    async with db.write() as session:
        state = await _state(session, bot)
        if state.bot_id != bot_id:
            state.bot_id, state.username, state.identity_at = bot_id, None, None
            state.commands_at = state.webhook_at = None


async def record_identity(db: Database, bot_id: int, username: str, bot: int = DEFAULT_BOT) -> None:
    async with db.write() as session:
        state = await _state(session, bot)
        state.bot_id, state.username, state.identity_at = bot_id, username, utcnow()


async def record_step(
    db: Database, step: str, *, mode: str | None = None, bot: int = DEFAULT_BOT
) -> None:
    """A set-up step done: `commands`, or `webhook` (with the mode it set up)."""
    async with db.write() as session:
        state = await _state(session, bot)
        now = utcnow()
        if step == "commands":
            state.commands_at = now
        else:
            state.webhook_mode, state.webhook_at = mode, now


async def record_error(db: Database, error: str, bot: int = DEFAULT_BOT) -> None:
    async with db.write() as session:
        state = await _state(session, bot)
        state.last_error, state.last_error_at = error[:500], utcnow()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def bot_status(db: Database) -> dict[str, object]:
    """What readiness and admins see: is the name known, what is set up, the last error; for
    the default bot at the top level (as before), and for every bot under `bots`."""
    async with db.read() as session:
        rows = (await session.scalars(select(BotRecord).order_by(col(BotRecord.id)))).all()
    states = {r.id: r for r in rows}
    default = states.get(DEFAULT_BOT) or BotRecord(id=DEFAULT_BOT, name=DEFAULT_BOT_NAME)
    return _status(default) | {
        "bots": [
            _status(r) | {"name": r.name, "organization_id": r.organization_id}
            for r in rows
            if r.id != DEFAULT_BOT
        ]
    }


def _status(state: BotRecord) -> dict[str, object]:
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
