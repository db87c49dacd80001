"""Telegram's flood limits as the sandbox enforces them (switchable)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from coordinator.sandbox.errors import too_many_requests


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
    private_per_second: float = 1.0
    private_burst: int = 3
    group: tuple[int, float] = (20, 60.0)
    chats: dict[int, Window] = field(default_factory=dict)
    refused: int = 0

    def _window(self, chat_id: int) -> Window:
        if chat_id not in self.chats:
            if chat_id > 0:
                # A burst of 3, then one per second: the window of 3 events over 3 seconds.
                span = self.private_burst / self.private_per_second
                self.chats[chat_id] = Window(self.private_burst, span)
            else:
                self.chats[chat_id] = Window(*self.group)
        return self.chats[chat_id]

    def check(self, chat_id: int) -> None:
        """Count one message to `chat_id`, or raise 429 with the seconds to wait."""
        if not self.enabled:
            return
        now = self.clock()
        chat = self._window(chat_id)
        wait = max(self.overall.wait(now), chat.wait(now))
        if wait > 0:
            self.refused += 1
            raise too_many_requests(max(1, math.ceil(wait)))
        self.overall.events.append(now)
        chat.events.append(now)
