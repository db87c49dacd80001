"""The rules of Telegram's budget on both sides, with a hand-driven clock: the sandbox's
windows and Stars, and the pacer's window that counts from answers."""

from __future__ import annotations

import pytest

from coordinator.bots.pacing import MARGIN, Pacer, Window
from coordinator.sandbox.errors import BotApiError
from coordinator.sandbox.limits import FloodLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def refusal(limits: FloodLimits, chat: int, paid: bool = False) -> BotApiError:
    with pytest.raises(BotApiError) as refused:
        limits.check(chat, paid)
    return refused.value


def test_the_sandbox_tells_a_chats_window_from_the_overall_one():
    clock = Clock()
    limits = FloodLimits(enabled=True, clock=clock)
    for _ in range(3):  # a private chat's burst
        limits.check(1)
    error = refusal(limits, 1)
    assert error.code == 429 and error.parameters == {"retry_after": 3}
    assert (limits.refused_chat, limits.refused_overall) == (1, 0)
    for chat in range(2, 29):  # 27 more chats: 30 messages in this second
        limits.check(chat)
    error = refusal(limits, 99)
    assert error.description == "Too Many Requests: retry after 1"  # worded alike
    assert (limits.refused_chat, limits.refused_overall) == (1, 1)
    clock.now += 1.0
    limits.check(99)  # the window moved on


def test_the_sandbox_charges_paid_broadcasts_and_refuses_a_short_balance():
    clock = Clock()
    limits = FloodLimits(enabled=True, clock=clock, stars_tenths=15)
    for chat in range(1, 31):
        limits.check(chat)  # the free 30
    assert refusal(limits, 31).code == 429
    limits.check(31, paid=True)  # over 30/s only as a paid broadcast
    assert (limits.stars_tenths, limits.spent_tenths, limits.paid_sent) == (14, 1, 1)
    for chat in range(32, 46):
        limits.check(chat, paid=True)
    assert limits.stars_tenths == 0 and limits.paid_sent == 15
    short = refusal(limits, 46, paid=True)
    assert (short.code, short.description) == (400, "Bad Request: BALANCE_TOO_LOW")


def test_the_sandbox_holds_every_message_during_a_bot_wide_flood_wait():
    clock = Clock()
    limits = FloodLimits(enabled=True, clock=clock)
    limits.flood(2.5)
    assert refusal(limits, 1).parameters == {"retry_after": 3}
    assert refusal(limits, 2).code == 429 and limits.refused_overall == 2
    clock.now += 2.5
    limits.check(3)


def test_a_message_holds_its_place_until_a_window_after_its_answer():
    window = Window(3)
    assert window.seconds == pytest.approx(1 + MARGIN)
    window.in_flight = 3
    assert window.wait(0.0) is None  # all out, none answered: wait for an answer
    window.in_flight, window.answered = 2, type(window.answered)([0.5])
    window.last_out = 0.0
    assert window.wait(0.6) == pytest.approx(0.5 + 1 + MARGIN - 0.6)
    window.in_flight = 1
    assert window.wait(0.6) == 0.0  # room now; the even spacing has long passed
    window.last_out = 0.55
    assert window.wait(0.6) == pytest.approx(0.55 + window.gap - 0.6)


def test_a_second_chat_refused_within_the_wait_pauses_everything():
    pacer = Pacer(30)
    assert pacer.refused(1, 3.0) == "chat"
    assert pacer.refused(1, 3.0) == "chat"  # the same chat again: still its own limit
    assert pacer.busy(1) and not pacer.busy(2)
    assert pacer.refused(2, 1.0) == "all"
    assert pacer.paused_until > 0


def test_the_pacer_forgets_chats_long_quiet():
    import time

    from coordinator.bots.pacing import PRUNE_AT, Pacer

    pacer = Pacer(30)
    long_ago = time.monotonic() - 60
    pacer.last_answer = dict.fromkeys(range(1, PRUNE_AT + 1), long_ago)
    for window in (pacer.free, pacer.paid):
        window.in_flight = 1
    pacer.in_flight[-42] = 1
    pacer._answered(-42)
    assert list(pacer.last_answer) == [-42]  # the group just answered is still spaced
    assert pacer.in_flight == {}
