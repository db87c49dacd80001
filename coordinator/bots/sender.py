"""The outbox sender: keeps Telegram's limits itself, classifies every failure, never guesses.

- 429: pause everything for `retry_after`, reschedule, do not count it as a failure.
- Permanent refusals (an explicit list): the member or group becomes unreachable.
- Unknown 400/403: the row fails, nobody is disabled.
- Chat migration: store the new id and resend once.
- A timeout after the request went out: `uncertain`, never retried blindly.
- Anything else transient: capped exponential backoff with jitter, then dead-letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from coordinator.base import utcnow
from coordinator.bots import messages, outbox
from coordinator.bots.aiohttp_request import NotSent
from coordinator.bots.outbox import Leased, Outcome
from coordinator.bots.pacing import Pacer
from coordinator.bots.telegram_client import inline_keyboard
from coordinator.bots.views import assignment_views
from coordinator.db import Database
from coordinator.leader import Leader

logger = logging.getLogger("coordinator.sender")
PERMANENT = (
    "bot was blocked by the user",
    "user is deactivated",
    "chat not found",
    "bot was kicked from the group chat",
    "bot was kicked from the supergroup chat",
    "bot can't initiate conversation with a user",
    "group chat was deactivated",
    "bot is not a member of the",
)
MAX_ATTEMPTS = 8
MAX_BACKOFF = 300.0
SENDER_LOCK = 0x636F6F7265  # the advisory lock of the one sender per deployment
STANDBY = 1.0  # seconds between a standby sender's tries to lead
# Telegram's answer when the bot's balance cannot pay a paid broadcast. Not documented: the
# sandbox answers "Bad Request: BALANCE_TOO_LOW" (Telegram's name for a short Stars balance).
STARS_SHORT = ("balance_too_low", "not enough stars")
PAID_PAUSE = 600.0  # seconds without paid broadcast after the balance ran short


def _seconds(value: timedelta | int | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    def __init__(
        self,
        db: Database,
        bot: Bot,
        *,
        rate: float,
        timezone: ZoneInfo,
        locale: str = "vi",
        batch: int = 200,
        concurrency: int = 64,
        lease_for: timedelta = outbox.LEASE,
        paid_broadcast: bool = False,
    ) -> None:
        self.db, self.bot, self.tz, self.locale = db, bot, timezone, locale
        self.batch, self.lease_for = batch, lease_for
        self.pacer = Pacer(rate)
        self.leader = Leader(db, SENDER_LOCK, "sender")
        self.paid_broadcast = paid_broadcast
        self.paid_refused_until = 0.0
        self.slots = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()
        self.heartbeat: Callable[[], None] = lambda: None  # told after each good round

    async def run(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        """Send until `stop` is set; reap stale leases now and then."""
        last_reap = 0.0
        while not stop.is_set():
            if not await self._lead(stop):
                continue
            if time.monotonic() - last_reap > 10:
                await outbox.reap(self.db)
                last_reap = time.monotonic()
            handled = await self.run_once()
            self.heartbeat()
            if handled:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), idle)
        await self.leader.step_down()

    async def _lead(self, stop: asyncio.Event) -> bool:
        """One sender per deployment keeps Telegram's budget; the other processes stand by
        and try again every STANDBY seconds, so one takes over soon after the leader dies."""
        was_leading = self.leader.leading
        if not await self.leader.try_lead():
            self.heartbeat()  # standing by is healthy: readiness must not call it stale
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STANDBY)
            return False
        if not was_leading:  # the previous leader's last sends may still fill the window
            self.pacer.pause(self.pacer.free.seconds)
        return True

    async def run_once(self) -> int:
        """Lease one batch, send it, record the outcomes; returns how many rows it handled."""
        rows = await outbox.lease(self.db, self.batch, lease_for=self.lease_for)
        if not rows:
            return 0
        ids = [r.assignment_id for r in rows if r.assignment_id is not None]
        views = await assignment_views(self.db, ids, self.locale)
        outcomes = await asyncio.gather(*(self._send(row, views) for row in rows))
        await outbox.record(self.db, outcomes)
        return len(rows)

    async def _send(self, row: Leased, views: dict[int, Any]) -> Outcome:
        if self.pacer.busy(row.chat_id):
            ready = utcnow() + timedelta(seconds=self.pacer.chat_ready_in(row.chat_id))
            return Outcome(row, "pending", retry_at=ready, refund_attempt=True)
        paid = self._paid(row, views)
        async with self.slots:
            try:
                async with self.pacer.sending(row.chat_id, paid=paid):
                    message_id = await self._deliver(row, views, paid)
            except Exception as exc:  # classified below; nothing escapes the batch
                return self._classify(row, exc)
        return Outcome(row, "sent", message_id=message_id)

    def _paid(self, row: Leased, views: dict[int, Any]) -> bool:
        """Paid broadcast for this row: deployment-wide or an urgent campaign's, unless the
        bot's Stars ran short lately (then everything goes at the free rate for a while)."""
        if row.kind == "edit" or row.payload.get("unpaid"):
            return False  # edits cannot be paid broadcasts
        if time.monotonic() < self.paid_refused_until:
            return False
        view = views.get(row.assignment_id) if row.assignment_id is not None else None
        return self.paid_broadcast or bool(view and view[0].paid_broadcast)

    async def _deliver(self, row: Leased, views: dict[int, Any], paid: bool = False) -> int | None:
        paid_broadcast = True if paid else None  # not sent at all unless it is on
        if row.kind == "text":
            sent = await self.bot.send_message(
                row.chat_id,
                row.payload["text"],
                parse_mode=ParseMode.HTML,
                allow_paid_broadcast=paid_broadcast,
            )
            return sent.message_id
        if row.assignment_id not in views:
            raise LookupError(f"assignment {row.assignment_id} is gone")
        view, locale, message_id = views[row.assignment_id]
        text = messages.render(view, locale, self.tz)
        markup = inline_keyboard(messages.buttons(view, locale))
        if row.kind == "edit":
            try:
                await self.bot.edit_message_text(
                    text,
                    chat_id=row.chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            except BadRequest as exc:
                if "message is not modified" not in exc.message.lower():
                    raise
            return message_id
        sent = await self.bot.send_message(
            row.chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            allow_paid_broadcast=paid_broadcast,
        )
        return sent.message_id

    def _classify(self, row: Leased, exc: Exception) -> Outcome:
        now = utcnow()
        if isinstance(exc, RetryAfter):
            seconds = _seconds(exc.retry_after)
            held = self.pacer.refused(row.chat_id, seconds)  # this chat, or every chat
            return Outcome(
                row,
                "pending",
                error=f"429: retry after {seconds:g}s ({'all chats' if held == 'all' else 'chat'})",
                retry_at=now + timedelta(seconds=seconds),
                refund_attempt=True,
            )
        if isinstance(exc, ChatMigrated):
            if row.payload.get("migrated"):
                return Outcome(row, "failed", error="chat migrated twice")
            return Outcome(
                row,
                "pending",
                error="chat migrated; resending once",
                retry_at=now,
                new_chat_id=int(exc.new_chat_id),
                payload=row.payload | {"migrated": True},
            )
        if isinstance(exc, BadRequest) and any(s in exc.message.lower() for s in STARS_SHORT):
            return self._stars_short(row)
        if isinstance(exc, Forbidden | BadRequest):
            text = exc.message.lower()
            permanent = any(reason in text for reason in PERMANENT)
            return Outcome(row, "failed", error=exc.message[:500], unreachable=permanent)
        if isinstance(exc, TimedOut) and not isinstance(exc, NotSent):
            return Outcome(row, "uncertain", error="timed out after sending; not retried blindly")
        if isinstance(exc, NetworkError | TimedOut) and row.attempts < MAX_ATTEMPTS:
            backoff = min(MAX_BACKOFF, 2**row.attempts) * random.uniform(0.5, 1.0)
            return Outcome(
                row, "pending", error=str(exc)[:500], retry_at=now + timedelta(seconds=backoff)
            )
        logger.warning("outbox row %s failed for good: %r", row.id, exc)
        return Outcome(row, "failed", error=f"{type(exc).__name__}: {exc}"[:500])

    def _stars_short(self, row: Leased) -> Outcome:
        """The bot's Stars ran out: the row goes again at once without paid broadcast, and so
        does everything else for a while; never a crash, never a failed task."""
        if time.monotonic() >= self.paid_refused_until:  # once, not for every one in flight
            logger.warning("paid broadcast refused: not enough Stars; sending at the free rate")
        self.paid_refused_until = time.monotonic() + PAID_PAUSE
        return Outcome(
            row,
            "pending",
            error="paid broadcast refused: not enough Stars; sent at the free rate instead",
            retry_at=utcnow(),
            refund_attempt=True,
            payload=row.payload | {"unpaid": True},
        )


async def send_all(sender: Sender, rounds: int = 10_000) -> int:
    """Drain what is due now (for tests, benchmarks and the demo); returns rows handled."""
    total = 0
    for _ in range(rounds):
        handled = await sender.run_once()
        if not handled:
            break
        total += handled
    return total
