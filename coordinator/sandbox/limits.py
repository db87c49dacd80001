"""Telegram's flood limits and paid broadcasts as the sandbox enforces them (switchable).

- Overall: 30 messages in any one-second window. Over it: 429 (counted as `refused_overall`).
- Per chat: a private chat takes a burst of 3, then one per second; a group 20 per minute.
  Over a chat's own window, while the overall one has room: 429 for that chat only
  (`refused_chat`). Telegram words both the same way ("Too Many Requests: retry after N").
- Paid broadcasts (`allow_paid_broadcast`): up to 1,000 messages in any one-second window, and
  the chat limits still hold. Telegram charges 0.1 Star per message sent this way; we charge
  every such message (Telegram's FAQ says only those above the free 30/s: an honest upper
  bound for an estimate). The balance is kept in tenths of a Star, so the sums are exact. A
  balance that cannot pay answers 400 "Bad Request: BALANCE_TOO_LOW" (Telegram's name for a
  short Stars balance; the Bot API does not document this answer, so this is our assumption).
- A bot-wide flood wait (`flood_wait`): every message is refused for that many seconds, as
  Telegram does after a bot has overrun its limits.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from coordinator.sandbox.errors import bad_request, too_many_requests

PAID_TENTHS = 1  # 0.1 Star per paid message, kept in tenths of a Star
BALANCE_TOO_LOW = "BALANCE_TOO_LOW"


@dataclass
class Window:
    """At most `count` events in any `seconds`-long window."""

    count: int
    seconds: float
    events: deque[float] = field(default_factory=deque)

    def wait(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.seconds:
            self.events.popleft()
        if len(self.events) < self.count:
            return 0.0
        return self.events[0] + self.seconds - now


@dataclass
class FloodLimits:
    """About 30 messages/s overall, 1/s per private chat (burst 3), 20/min per group."""

    enabled: bool = False
    clock: Callable[[], float] = field(default=lambda: 0.0)
    overall: Window = field(default_factory=lambda: Window(30, 1.0))
    paid: Window = field(default_factory=lambda: Window(1000, 1.0))
    private_per_second: float = 1.0
    private_burst: int = 3
    group: tuple[int, float] = (20, 60.0)
    chats: dict[int, Window] = field(default_factory=dict)
    refused_chat: int = 0
    refused_overall: int = 0
    flood_until: float = 0.0
    stars_tenths: int = 0  # the bot's Stars balance, in tenths of a Star
    paid_sent: int = 0
    spent_tenths: int = 0

    @property
    def refused(self) -> int:
        return self.refused_chat + self.refused_overall

    def _window(self, chat_id: int) -> Window:
        if chat_id not in self.chats:
            if chat_id > 0:
                # A burst of 3, then one per second: the window of 3 events over 3 seconds.
                span = self.private_burst / self.private_per_second
                self.chats[chat_id] = Window(self.private_burst, span)
            else:
                self.chats[chat_id] = Window(*self.group)
        return self.chats[chat_id]

    def check(self, chat_id: int, paid: bool = False) -> None:
        """Count one message to `chat_id`, or raise 429 with the seconds to wait (or 400 when
        a paid broadcast cannot be paid for)."""
        if paid and self.stars_tenths < PAID_TENTHS:
            raise bad_request(BALANCE_TOO_LOW)
        if not self.enabled:
            self._count(chat_id, paid, None)
            return
        now = self.clock()
        if now < self.flood_until:
            self.refused_overall += 1
            raise too_many_requests(max(1, math.ceil(self.flood_until - now)))
        overall = (self.paid if paid else self.overall).wait(now)
        chat = self._window(chat_id).wait(now)
        if overall > 0:
            self.refused_overall += 1
            raise too_many_requests(max(1, math.ceil(overall)))
        if chat > 0:
            self.refused_chat += 1
            raise too_many_requests(max(1, math.ceil(chat)))
        self._count(chat_id, paid, now)

    def _count(self, chat_id: int, paid: bool, now: float | None) -> None:
        if now is not None:
            self.overall.events.append(now)
            self.paid.events.append(now)
            self._window(chat_id).events.append(now)
        if paid:
            self.stars_tenths -= PAID_TENTHS
            self.spent_tenths += PAID_TENTHS
            self.paid_sent += 1

    def flood(self, seconds: float) -> None:
        """Refuse every message for `seconds` from now (a bot-wide flood wait)."""
        self.flood_until = self.clock() + seconds

    def reset(self) -> None:
        self.overall.events.clear()
        self.paid.events.clear()
        self.chats.clear()
        self.flood_until = 0.0
