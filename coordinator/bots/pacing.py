"""Telegram's send budget in one process: the overall rate and the spacing per chat.

Paced on actual send times, never on slots computed in advance. Telegram counts a message when
it arrives, and all we know for sure is that this happens after our request went out and
before its answer came back. So a request holds its place in the window from the moment it
goes out until one window after its answer: then, however late the network or Telegram's side
was (a loaded machine stalls for tens of milliseconds), the window Telegram sees can never hold
more than we allowed. A slot computed in advance goes stale the moment the event loop is late,
and a late loop then fires its overdue slots together: the burst that earns a 429.

- Overall: at most `rate` messages per second, in that sense. Free sends are also at least half
  an even interval apart, so a stall is made up for in a quick run rather than one burst.
- Paid broadcasts (`allow_paid_broadcast`): the same, at up to `PAID_RATE`.
- Per chat: one message per `PRIVATE_INTERVAL` to a private chat, per `GROUP_INTERVAL` to a
  group, counted from the answer to the chat's previous message.
- A 429 for one chat delays that chat. A second chat refused while the first one's wait lasts
  means Telegram's overall limit, not a chat's: then every send pauses (see `refused`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

PRIVATE_INTERVAL = 1.0  # Telegram: about one message per second to one private chat
GROUP_INTERVAL = 3.0  # Telegram: 20 messages per minute to one group
HOLD_LIMIT = 2.0  # a chat busier than this goes back to the queue instead of holding a lease
MARGIN = 0.005  # seconds: Telegram's clock is not ours; a whisker on top of every window
RESOLUTION = 0.001  # seconds: shorter waits are not slept (the event loop cannot do it)
PAID_RATE = 1000.0  # Telegram: up to 1,000 messages per second with allow_paid_broadcast


class Window:
    """At most `count` messages per `seconds`: each holds a place from going out until
    `seconds` after its answer."""

    def __init__(self, rate: float, spread: bool = True) -> None:
        self.count = max(1, int(rate))
        self.seconds = self.count / rate + MARGIN
        self.gap = self.seconds / self.count / 2 if spread else 0.0
        self.in_flight = 0
        self.answered: deque[float] = deque()  # answer times, oldest first
        self.last_out = float("-inf")

    def wait(self, now: float) -> float | None:
        """Seconds until a message fits; None if not before an answer comes back."""
        while self.answered and self.answered[0] <= now - self.seconds:
            self.answered.popleft()
        spaced = max(0.0, self.last_out + self.gap - now)
        over = self.in_flight + len(self.answered) - self.count
        if over < 0:
            return spaced
        if over >= len(self.answered):
            return None
        return max(spaced, self.answered[over] + self.seconds - now)


PRUNE_AT = 10_000  # chats remembered before the quiet ones are forgotten


class Pacer:
    """One process's gate to Telegram: every send waits its turn here, then goes out at once."""

    def __init__(self, rate: float, paid_rate: float = PAID_RATE) -> None:
        self.free = Window(rate)
        self.paid = Window(max(rate, paid_rate), spread=False)
        self.last_answer: dict[int, float] = {}
        self.in_flight: dict[int, int] = {}
        self.waiting: dict[int, int] = {}
        self.paused_until = 0.0
        self.chat_paused: dict[int, float] = {}
        self._gate = asyncio.Lock()  # FIFO: requests pass the overall window one by one
        self._answer = asyncio.Event()

    @staticmethod
    def spacing(chat_id: int) -> float:
        return (PRIVATE_INTERVAL if chat_id > 0 else GROUP_INTERVAL) + MARGIN

    def chat_ready_in(self, chat_id: int, now: float | None = None) -> float:
        """Seconds until `chat_id` may get its next message, counting the ones waiting for it."""
        now = time.monotonic() if now is None else now
        queued = self.waiting.get(chat_id, 0) + self.in_flight.get(chat_id, 0)
        last = self.last_answer.get(chat_id)
        start = last + self.spacing(chat_id) if last is not None else now
        ready = start + self.spacing(chat_id) * queued
        return max(0.0, ready - now, self.chat_paused.get(chat_id, 0.0) - now)

    def busy(self, chat_id: int) -> bool:
        """Too long to hold a lease for: the row should go back to the queue."""
        return self.chat_ready_in(chat_id) > HOLD_LIMIT

    def _chat_wait(self, chat_id: int, now: float) -> float | None:
        if self.in_flight.get(chat_id):
            return None  # its answer decides when the next may go
        last = self.last_answer.get(chat_id)
        spaced = last + self.spacing(chat_id) - now if last is not None else 0.0
        return max(0.0, spaced, self.chat_paused.get(chat_id, 0.0) - now)

    def _overall_wait(self, paid: bool, now: float) -> float | None:
        wait = (self.paid if paid else self.free).wait(now)
        return None if wait is None else max(wait, self.paused_until - now)

    def sending(self, chat_id: int, *, paid: bool = False) -> Sending:
        """Wait until Telegram's limits allow a message to `chat_id`, then hold its place while
        the request (the block) runs; its answer, or failure, ends the block."""
        return Sending(self, chat_id, paid)

    async def _turn(self, chat_id: int, paid: bool) -> None:
        if not self._gate.locked() and self._free_now(chat_id, paid):
            self._out(chat_id)  # nobody queued and nothing to wait for: the common paid case
            return
        while True:
            await self._until(lambda: self._chat_wait(chat_id, time.monotonic()))
            async with self._gate:
                await self._until(lambda: self._overall_wait(paid, time.monotonic()))
                wait = self._chat_wait(chat_id, time.monotonic())
                if wait is not None and wait < RESOLUTION:  # nobody took the chat meanwhile
                    self._out(chat_id)
                    return

    def _free_now(self, chat_id: int, paid: bool) -> bool:
        now = time.monotonic()
        chat, overall = self._chat_wait(chat_id, now), self._overall_wait(paid, now)
        return chat is not None and overall is not None and max(chat, overall) < RESOLUTION

    async def _until(self, wait_for: Callable[[], float | None]) -> None:
        """Sleep until `wait_for` says 0; None means until some answer comes back."""
        while True:
            wait = wait_for()
            if wait is None:
                self._answer.clear()
                await self._answer.wait()
            elif wait < RESOLUTION:  # the loop cannot sleep shorter; MARGIN covers it
                return
            else:
                await asyncio.sleep(wait)

    def _out(self, chat_id: int) -> None:
        now = time.monotonic()
        for window in (self.free, self.paid):
            window.in_flight += 1
            window.last_out = now
        self._count(self.in_flight, chat_id, 1)

    def _answered(self, chat_id: int) -> None:
        now = time.monotonic()
        for window in (self.free, self.paid):
            window.in_flight -= 1
            window.answered.append(now)
        self._count(self.in_flight, chat_id, -1)
        self.last_answer[chat_id] = now
        self._forget_quiet_chats(now)
        self._answer.set()

    def _forget_quiet_chats(self, now: float) -> None:
        """A long-lived leader messages every volunteer in turn: forget chats whose spacing has
        long passed, now and then, so the memory stays the size of the chats in play."""
        if len(self.last_answer) < PRUNE_AT:
            return
        horizon = now - GROUP_INTERVAL - MARGIN
        self.last_answer = {c: t for c, t in self.last_answer.items() if t > horizon}
        self.chat_paused = {c: t for c, t in self.chat_paused.items() if t > now}
        for counts in (self.in_flight, self.waiting):
            for chat in [c for c, n in counts.items() if n == 0]:
                del counts[chat]

    @staticmethod
    def _count(counts: dict[int, int], chat_id: int, change: int) -> None:
        counts[chat_id] = counts.get(chat_id, 0) + change
        if not counts[chat_id]:
            del counts[chat_id]

    def refused(self, chat_id: int, seconds: float) -> str:
        """Telegram answered 429 for `chat_id`: delay the chat, or everything; says which.

        Telegram's 429 does not say whose limit it was. A chat's own limit refuses that chat
        only; the overall limit refuses whichever chat comes next. So a first 429 delays its
        chat, and another chat refused while that wait lasts pauses every send.
        """
        now = time.monotonic()
        others = [c for c, until in self.chat_paused.items() if until > now and c != chat_id]
        self.chat_paused = {c: u for c, u in self.chat_paused.items() if u > now}
        self.chat_paused[chat_id] = max(self.chat_paused.get(chat_id, 0.0), now + seconds)
        if others:
            self.pause(seconds)
            return "all"
        return "chat"

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (a deployment-wide 429, or a new leader's first window,
        which the previous leader's last sends may still fill)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class Sending:
    """`Pacer.sending`'s block: a plain class, not a generator-based context manager, since
    the sender enters one for every message it sends."""

    __slots__ = ("chat_id", "pacer", "paid")

    def __init__(self, pacer: Pacer, chat_id: int, paid: bool) -> None:
        self.pacer, self.chat_id, self.paid = pacer, chat_id, paid

    async def __aenter__(self) -> None:
        pacer = self.pacer
        pacer.waiting[self.chat_id] = pacer.waiting.get(self.chat_id, 0) + 1
        try:
            await pacer._turn(self.chat_id, self.paid)
        finally:
            pacer._count(pacer.waiting, self.chat_id, -1)

    async def __aexit__(self, *exc: object) -> None:
        self.pacer._answered(self.chat_id)  # its answer, or its failure, came back


PAID_STARS_PER_MESSAGE = 0.1  # Telegram's fee per message sent with allow_paid_broadcast


def sustained_rate(rate: float) -> float:
    """Messages per second a Pacer at `rate` keeps up over a long delivery (its margin off)."""
    window = Window(rate)
    return window.count / window.seconds


def delivery_estimate(recipients: int, rate: float) -> tuple[float, float, float]:
    """For a launch confirmation: (seconds at `rate`, seconds as a paid broadcast, Stars it
    would cost at most: every message charged, though Telegram waives those within 30/s)."""
    return (
        recipients / sustained_rate(rate),
        recipients / sustained_rate(max(rate, PAID_RATE)),
        round(recipients * PAID_STARS_PER_MESSAGE, 1),
    )
