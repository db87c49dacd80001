"""The bots of the deployment with the health of their lanes (each bot's sender and update
reader), for the admins' bots page; `/health/ready` says the same to machines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots.models import BotRecord
from coordinator.db import Database
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.health import loop_state
from coordinator.organizations.models import Organization
from coordinator.settings import Settings
from coordinator.supervisor import heartbeats

# One live process whose loop ticks is enough; otherwise the worst thing seen says why not.
BEST_FIRST = ("ok", "starting", "stale", "failing")


@dataclass(frozen=True)
class BotLane:
    name: str
    username: str | None
    serves: str | None  # the root organization's name; None: everyone no other bot serves
    configured: bool  # still in the settings (a bot taken out serves nothing new)
    sender: str  # ok, starting, stale, failing or "not running"
    updates: str
    last_error: str | None


def _loop(states: dict[str, list[str]], loop: str) -> str:
    seen = states.get(loop, [])
    return next((s for s in BEST_FIRST if s in seen), "not running")


async def bot_lanes(db: Database, settings: Settings) -> list[BotLane]:
    now, stale = utcnow(), timedelta(seconds=settings.ready_stale_seconds)
    states: dict[str, list[str]] = {}
    for row in await heartbeats(db):
        states.setdefault(row.loop, []).append(loop_state(row, now, stale))
    async with db.read() as session:
        rows = (
            await session.execute(
                select(BotRecord, Organization.name)
                .outerjoin(Organization, col(Organization.id) == BotRecord.organization_id)
                .order_by(col(BotRecord.id))
            )
        ).all()
    updates = "inbox" if settings.telegram_mode == "webhook" else "poller"
    configured = {bot.name for bot in settings.telegram_bots}
    lanes = []
    for bot, root in rows:
        suffix = "" if bot.id == DEFAULT_BOT else f"-{bot.name}"
        lanes.append(
            BotLane(
                name=bot.name,
                username=bot.username,
                serves=root,
                configured=bot.id == DEFAULT_BOT or bot.name in configured,
                sender=_loop(states, f"sender{suffix}"),
                updates=_loop(states, f"{updates}{suffix}"),
                last_error=bot.last_error,
            )
        )
    return lanes
