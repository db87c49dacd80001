"""Telegram's send budget in one process: the overall rate and the spacing per chat.

Paced on actual send times, never on slots computed in advance: a request passes the gate only
when, counting the moments earlier requests really went out, Telegram's window has room. A
slot computed in advance goes stale the moment the event loop is late, and a late loop then
fires its overdue slots together, which is exactly the burst that earns a 429.

- Overall: at most `rate` sends in any window of one second plus `MARGIN` (the margin absorbs
  the jitter between our clock and Telegram's arrival times). Sends are also at least half an
  even interval apart, so a stall is made up for in a quick run rather than a burst.
- Paid broadcasts (`allow_paid_broadcast`): the same, at up to `PAID_RATE`.
- Per chat: one send per `PRIVATE_INTERVAL` to a private chat, per `GROUP_INTERVAL` to a group,
  both plus the margin, measured from the chat's last actual send.
- A 429 for one chat delays that chat. A second chat refused while the first one's wait lasts
  means Telegram's overall limit, not a chat's: then every send pauses (see `refused`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

PRIVATE_INTERVAL = 1.0  # Telegram: about one message per second to one private chat
GROUP_INTERVAL = 3.0  # Telegram: 20 messages per minute to one group
HOLD_LIMIT = 2.0  # a chat busier than this goes back to the queue instead of holding a lease
MARGIN = 0.04  # seconds added to every window: measured jitter on loopback is well under this
PAID_RATE = 1000.0  # Telegram: up to 1,000 messages per second with allow_paid_broadcast


class Window:
    """The actual moments of the last `count` sends; room when the oldest left `seconds` ago."""

    def __init__(self, rate: float) -> None:
        self.count = max(1, int(rate))
        self.seconds = self.count / rate + MARGIN
        self.gap = self.seconds / self.count / 2
        self.sent: deque[float] = deque(maxlen=self.count)

    def wait(self, now: float) -> float:
        full = self.sent[0] + self.seconds - now if len(self.sent) == self.count else 0.0
        spaced = self.sent[-1] + self.gap - now if self.sent else 0.0
        return max(0.0, full, spaced)


class Pacer:
    """One process's gate to Telegram: every send waits its turn here, then goes out at once."""

    def __init__(self, rate: float, paid_rate: float = PAID_RATE) -> None:
        self.free = Window(rate)
        self.paid = Window(max(rate, paid_rate))
        self.last_sent: dict[int, float] = {}
        self.waiting: dict[int, int] = {}
        self.paused_until = 0.0
        self.chat_paused: dict[int, float] = {}
        self._gate = asyncio.Lock()  # FIFO: requests pass the overall window one by one

    @staticmethod
    def spacing(chat_id: int) -> float:
        return (PRIVATE_INTERVAL if chat_id > 0 else GROUP_INTERVAL) + MARGIN

    def chat_ready_in(self, chat_id: int, now: float | None = None) -> float:
        """Seconds until `chat_id` may get its next message, counting the ones waiting for it."""
        now = time.monotonic() if now is None else now
        last = self.last_sent.get(chat_id)
        ready = last + self.spacing(chat_id) * (1 + self.waiting.get(chat_id, 0)) if last else now
        return max(0.0, ready - now, self.chat_paused.get(chat_id, 0.0) - now)

    def busy(self, chat_id: int) -> bool:
        """Too long to hold a lease for: the row should go back to the queue."""
        return self.chat_ready_in(chat_id) > HOLD_LIMIT

    def _chat_wait(self, chat_id: int, now: float) -> float:
        last = self.last_sent.get(chat_id)
        spaced = last + self.spacing(chat_id) - now if last is not None else 0.0
        return max(0.0, spaced, self.chat_paused.get(chat_id, 0.0) - now)

    def _overall_wait(self, paid: bool, now: float) -> float:
        window = self.paid if paid else self.free
        return max(window.wait(now), self.paused_until - now)

    async def turn(self, chat_id: int, *, paid: bool = False) -> None:
        """Wait until Telegram's limits allow a send to `chat_id`; the send must follow at once.

        The moment this returns is recorded as the send's actual time.
        """
        self.waiting[chat_id] = self.waiting.get(chat_id, 0) + 1
        try:
            while True:
                await _sleep(self._chat_wait(chat_id, time.monotonic()))
                async with self._gate:
                    await self._overall_turn(paid)
                    now = time.monotonic()
                    if self._chat_wait(chat_id, now) <= 0:  # nobody took the chat meanwhile
                        self._record(chat_id, now)
                        return
        finally:
            self.waiting[chat_id] -= 1
            if not self.waiting[chat_id]:
                del self.waiting[chat_id]

    async def _overall_turn(self, paid: bool) -> None:
        while True:  # re-checked after each sleep: a 429 may have paused everything meanwhile
            wait = self._overall_wait(paid, time.monotonic())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def _record(self, chat_id: int, now: float) -> None:
        self.free.sent.append(now)
        self.paid.sent.append(now)
        self.last_sent[chat_id] = now

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


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
