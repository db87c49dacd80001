"""Telegram's send budget in one process: the global rate and the spacing per chat."""

from __future__ import annotations

import time

PRIVATE_INTERVAL = 1.0  # Telegram: about one message per second to one private chat
GROUP_INTERVAL = 3.0  # Telegram: 20 messages per minute to one group
HOLD_LIMIT = 2.0  # a chat busier than this goes back to the queue instead of holding a lease


class Pacer:
    """Reserves send slots: an even global rate, and spacing per chat."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_global = 0.0
        self.next_chat: dict[int, float] = {}
        self.paused_until = 0.0

    def reserve(self, chat_id: int) -> float | None:
        """The monotonic time to send to `chat_id` at; None if the chat should wait its turn."""
        now = time.monotonic()
        chat_ready = self.next_chat.get(chat_id, 0.0)
        if chat_ready - now > HOLD_LIMIT:
            return None
        slot = max(now, self.next_global, chat_ready, self.paused_until)
        self.next_global = slot + self.interval
        self.next_chat[chat_id] = slot + (PRIVATE_INTERVAL if chat_id > 0 else GROUP_INTERVAL)
        return slot

    def chat_ready_in(self, chat_id: int) -> float:
        return max(0.0, self.next_chat.get(chat_id, 0.0) - time.monotonic())

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
