"""The outbox sender: keeps Telegram's limits itself, classifies every failure, never guesses.

- 429: pause that chat (or, when a second chat is refused meanwhile, everything) for
  `retry_after`, reschedule, do not count it as a failure.
- Paid broadcasts refused for want of Stars: sent again at once at the free rate.
- Permanent refusals (an explicit list): the member or group becomes unreachable.
- Unknown 400/403: the row fails, nobody is disabled.
- Chat migration: store the new id and resend once.
- A timeout after the request went out: uncertain, so `store.after_uncertain` decides: sent
  once more as a marked copy, then shown to operators (counter edits: dropped, counted).
- Anything else transient: capped exponential backoff with jitter, then dead-letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from coordinator import metrics
from coordinator.base import utcnow
from coordinator.bots import bot_api
from coordinator.bots.aiohttp_request import NotSent
from coordinator.bots.pacing import HOLD_LIMIT, PAID_RATE, Pacer
from coordinator.bots.settle import SETTLE
from coordinator.bots.telegram_client import SEND_CONNECTIONS
from coordinator.bots.views import Cards, Views
from coordinator.db import Database
from coordinator.delivery import messages, store
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.delivery.store import Leased, Outcome
from coordinator.leader import Leader
from coordinator.settings import DEFAULT_BOT_NAME

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
CLAIM_AHEAD = 0.2  # seconds of sending, at the pacing rate, leased ahead of time
RECORD_AT_LEAST = 8  # while rows wait for the pacer, record outcomes in rounds of this many
RECORD_WITHIN = 0.05  # seconds an outcome may wait for others to share its commit
REAP_EVERY = 5.0  # seconds between looks for expired leases
RESEND_AFTER_TIMEOUT = 5.0  # seconds: let a slow Bot API catch up before the copy goes
SENDER_LOCK = 0x636F6F7265  # the advisory lock of the one sender per deployment
STANDBY = 1.0  # seconds between a standby sender's tries to lead
# Telegram's answer when the bot's balance cannot pay a paid broadcast. Not documented: the
# sandbox answers "Bad Request: BALANCE_TOO_LOW" (Telegram's name for a short Stars balance).
STARS_SHORT = ("balance_too_low", "not enough stars")
PAID_PAUSE = 600.0  # seconds without paid broadcast after the balance ran short
PAID_MEMORY = 2.0  # seconds a paid message keeps the sender leasing at the paid rate


@dataclass(frozen=True)
class Lane:
    """One bot's lane: its id in the `bot` table and its name. Each bot has its own Telegram
    budget, so each has its own elected sender (and update reader) with a lock of its own."""

    bot: int = DEFAULT_BOT
    name: str = DEFAULT_BOT_NAME

    def lock(self, base: int) -> int:
        """The advisory lock of this bot's job: the default bot keeps the one it always had."""
        return base + (self.bot - DEFAULT_BOT) * 0x100

    def job(self, job: str) -> str:
        """The job's name (and its SQLite lock file): `sender`, `sender-hanoi`, ..."""
        return job if self.bot == DEFAULT_BOT else f"{job}-{self.name}"


def _lease_for(bot: Bot, rate: float) -> timedelta:
    """Long enough for a claimed row to wait its pacing slot and for its request to time out
    (waiting for a connection, connecting, reading the answer), and no longer. A row is leased
    no sooner than CLAIM_AHEAD before the pacer lets it go, and a chat busier than HOLD_LIMIT
    sends it back, so its wait for the pacer is about the two together."""
    names = ("read_timeout", "connect_timeout", "pool_timeout")
    timeouts = [getattr(bot.request, name, None) for name in names]
    budget = sum(t for t in timeouts if isinstance(t, int | float)) or 25.0
    pacing = CLAIM_AHEAD + HOLD_LIMIT if rate > 0 else 0.0
    return timedelta(seconds=budget + pacing + 2.0)


def _seconds(value: timedelta | int | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    """Sends due outbox rows with at most `concurrency` of them leased at any moment.

    A row is claimed (`sending`) only when a place among the `concurrency` is free, and its
    outcome is recorded with others that came back meanwhile (group commit: `_record_at`), in
    the commit that leases the next rows and reads their cards. So a crash leaves at most
    `concurrency` rows `sending`, all of which may really have gone out, and their lease,
    sized from the client's own timeouts, expires in seconds rather than a minute."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        *,
        rate: float,
        timezone: ZoneInfo,
        locale: str = "vi",
        batch: int = 1000,
        concurrency: int = SEND_CONNECTIONS,
        lease_for: timedelta | None = None,
        paid_broadcast: bool = False,
        lane: Lane | None = None,
    ) -> None:
        self.db, self.bot, self.tz, self.locale = db, bot, timezone, locale
        self.lane = lane or Lane()  # which bot's rows, budget and lock
        self.batch, self.concurrency = batch, concurrency
        self.lease_for = lease_for or _lease_for(bot, rate)
        # Rows are leased no sooner than about CLAIM_AHEAD before the pacer lets them go: a
        # crash then leaves uncertain only rows in flight or about to be.
        self.free_ahead = max(1, math.ceil(rate * CLAIM_AHEAD)) if rate > 0 else concurrency
        self.paid_ahead = max(self.free_ahead, math.ceil(PAID_RATE * CLAIM_AHEAD))
        self.paid_sent_at = -PAID_MEMORY  # paid broadcasts lately: lease ahead at their rate
        self.waiting = 0
        self.pacer = Pacer(rate)
        self.leader = Leader(db, self.lane.lock(SENDER_LOCK), self.lane.job("sender"))
        self.paid_broadcast = paid_broadcast
        self.paid_refused_until = 0.0
        self.slots = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()
        self.heartbeat: Callable[[], None] = lambda: None  # told after each good round
        self.name = self.lane.name  # the bot's label in the metrics

    async def run(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        """Send until `stop` is set. Reaps expired leases at start-up (a crashed sender's rows
        come back at once) and then every few seconds."""
        last_reap = -REAP_EVERY
        while not stop.is_set():
            if not await self._lead(stop):
                continue
            if time.monotonic() - last_reap >= REAP_EVERY:
                await store.reap(self.db, bot=self.lane.bot)
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
            reaped = await store.reap(self.db, every_lease=True, bot=self.lane.bot)
            if reaped:
                logger.info("took over %s messages the previous sender left in flight", reaped)
        return True

    async def run_once(self) -> int:
        """Send up to `batch` due rows, recording outcomes as they come back, a few per commit;
        returns how many rows it handled (0: nothing was due)."""
        handled, room, exhausted = 0, self.concurrency, False
        self.waiting = 0  # leased rows whose request has not gone out yet
        back = _Outcomes()
        sending: set[asyncio.Task[None]] = set()

        async def send(row: Leased, cards: Cards) -> None:
            back.add(await self._send(row, cards))

        try:
            wanted, cards = self._wanted(room, handled), self._cards()
            rows = await store.lease(
                self.db, wanted, lease_for=self.lease_for, bot=self.lane.bot, load=cards.load
            )
            while True:
                exhausted = exhausted or len(rows) < wanted
                room, handled = room - len(rows), handled + len(rows)
                self.waiting += len(rows)
                for row in rows:
                    task = asyncio.create_task(send(row, cards))
                    sending.add(task)
                    task.add_done_callback(sending.discard)
                rows, wanted = [], 0  # a `continue` below leases nothing: not a sign of the end
                if not sending and not back.done:
                    return handled
                await back.arrived.wait()
                back.arrived.clear()
                if sending and len(back.done) < self._record_at() and not back.overdue():
                    continue  # the rest are in flight or wait for the pacer: they share the commit
                outcomes = back.take()
                room += len(outcomes)
                wanted, cards = 0 if exhausted else self._wanted(room, handled), self._cards()
                rows = await store.record_and_lease(
                    self.db, outcomes, wanted, SETTLE, self.lease_for, self.lane.bot, cards.load
                )
                self.heartbeat()  # a long batch at the free rate must not look stale
        finally:
            for task in sending:  # stopped or failed: those rows stay leased until they expire
                task.cancel()

    def _cards(self) -> Cards:
        return Cards(self.locale)

    def _record_at(self) -> int:
        """Outcomes per commit while others are still out. When the pacer sets the pace (it
        lets fewer go within CLAIM_AHEAD than may be in flight), each answer is recorded as
        it comes, or a few while leased rows wait for their slots. When the places in flight
        do (limits off, paid broadcasts), half of them share a commit: a commit per answer
        costs more CPU than the send. No outcome waits over RECORD_WITHIN (`_Outcomes`)."""
        if self.ahead >= self.concurrency:
            return max(1, self.concurrency // 2)
        return min(self.ahead, RECORD_AT_LEAST) if self.waiting else 1

    @property
    def ahead(self) -> int:
        """Rows leased ahead of the pacer: 0.2 s of sending at the rate messages go out now."""
        paying = time.monotonic() - self.paid_sent_at < PAID_MEMORY
        return self.paid_ahead if paying or self.paid_broadcast else self.free_ahead

    def _wanted(self, room: int, handled: int) -> int:
        """How many rows to lease now: free places, what is left of the batch, and no more
        than the pacer will let go within CLAIM_AHEAD."""
        return max(0, min(room, self.batch - handled, self.ahead - self.waiting))

    async def _send(self, row: Leased, cards: Cards) -> Outcome:
        if self.pacer.busy(row.chat_id):
            self.waiting -= 1
            ready = utcnow() + timedelta(seconds=self.pacer.chat_ready_in(row.chat_id))
            return Outcome(row, "pending", retry_at=ready, refund_attempt=True)
        paid = self._paid(row, cards.views)
        if paid:
            self.paid_sent_at = time.monotonic()
        went = False
        async with self.slots:
            try:
                async with self.pacer.sending(row.chat_id, paid=paid):
                    self.waiting -= 1  # its request goes out now
                    went = True
                    message_id = await self._deliver(row, cards, paid)
            except Exception as exc:  # classified below; nothing escapes the batch
                if not went:
                    self.waiting -= 1
                outcome = self._classify(row, exc)
                metrics.refused(exc, outcome.unreachable, self.name)
                return outcome
        metrics.SENT.labels(self.name).inc()
        return Outcome(row, "sent", message_id=message_id)

    def _paid(self, row: Leased, views: Views) -> bool:
        """Paid broadcast for this row: deployment-wide or an urgent campaign's, unless the
        bot's Stars ran short lately (then everything goes at the free rate for a while)."""
        if row.kind == "edit" or row.payload.get("unpaid"):
            return False  # edits cannot be paid broadcasts
        if time.monotonic() < self.paid_refused_until:
            return False
        view = views.get(row.assignment_id) if row.assignment_id is not None else None
        return self.paid_broadcast or bool(view and view[0].paid_broadcast)

    async def _deliver(self, row: Leased, cards: Cards, paid: bool = False) -> int | None:
        copy = bool(row.payload.get("resent"))  # paid: allow_paid_broadcast, else not sent
        if row.kind == "text":
            text = row.payload["text"]
            if copy:
                text = messages.copy_note(row.payload.get("locale") or self.locale) + "\n" + text
            markup = row.payload.get("markup")  # a focal point's organization task has buttons
            return await bot_api.send_message(self.bot, row.chat_id, text, markup, paid=paid)
        if row.assignment_id not in cards.views:
            raise LookupError(f"assignment {row.assignment_id} is gone")
        view, locale, message_id = cards.views[row.assignment_id]
        text = messages.card_text(view, locale, self.tz, copy=copy and row.kind == "assignment")
        markup = messages.buttons(view, locale)
        if row.kind == "edit":
            try:
                await bot_api.edit_message_text(self.bot, row.chat_id, message_id, text, markup)
            except BadRequest as exc:
                if "message is not modified" not in exc.message.lower():
                    raise
            return message_id
        return await bot_api.send_message(self.bot, row.chat_id, text, markup, paid=paid)

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
            # The request went out: Telegram may have the message. Never lost, never blind.
            status, payload, policy = store.after_uncertain(row.kind, row.payload)
            retry_at = now + timedelta(seconds=RESEND_AFTER_TIMEOUT)
            return Outcome(
                row,
                status,
                error=f"timed out after sending; {policy}",
                retry_at=retry_at,
                payload=payload,
            )
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


class _Outcomes:
    """Outcomes back from Telegram and not yet recorded; `arrived` wakes the sender when one
    comes back, and again when the oldest has waited RECORD_WITHIN."""

    def __init__(self) -> None:
        self.done: list[Outcome] = []
        self.arrived = asyncio.Event()
        self.oldest = 0.0

    def add(self, outcome: Outcome) -> None:
        if not self.done:
            self.oldest = time.monotonic()
            asyncio.get_running_loop().call_later(RECORD_WITHIN, self.arrived.set)
        self.done.append(outcome)
        self.arrived.set()

    def overdue(self) -> bool:
        return bool(self.done) and time.monotonic() - self.oldest >= RECORD_WITHIN

    def take(self) -> list[Outcome]:
        outcomes, self.done = self.done, []
        return outcomes


async def send_all(sender: Sender, rounds: int = 10_000) -> int:
    """Drain what is due now (for tests, benchmarks and the demo); returns rows handled."""
    total = 0
    for _ in range(rounds):
        handled = await sender.run_once()
        if not handled:
            break
        total += handled
    return total
