"""What the processes count for Prometheus: the metrics and the calls that move them.

prometheus-client's default registry, one per process; `coordinator/scrape.py` serves them
with the gauges read from the database. No label carries a secret, a chat id or a person:
`bot` is the bot's name in the deployment ("default" while there is one); `reason`, `sweep`
and `loop` are fixed words.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram

BOT = "default"  # the deployment's one bot, until there are several
QUICK = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

SENT = Counter("coordinator_messages_sent", "Messages Telegram accepted.", ["bot"])
REFUSED = Counter(
    "coordinator_messages_refused", "Sends that did not go through, by reason.", ["bot", "reason"]
)
TOO_MANY = Counter("coordinator_telegram_429", "429 Too Many Requests from the Bot API.", ["bot"])
PRESSES = Histogram(
    "coordinator_press_seconds",
    "Button presses: from the update to its recorded result.",
    ["bot"],
    buckets=QUICK,
)
SWEEPS = Histogram(
    "coordinator_sweep_seconds", "Durations of the scheduler's sweeps.", ["sweep"], buckets=SLOW
)
RESTARTS = Counter(
    "coordinator_loop_restarts", "Supervised loops restarted after failing.", ["loop"]
)
RECOUNTED = Gauge(
    "coordinator_tally_last_recount_timestamp_seconds",
    "When the exact tally recount last finished (Unix time).",
    multiprocess_mode="max",
)
DRIFTED = Gauge(
    "coordinator_tally_drift_lines",
    "Summary lines the last recount found drifted (and repaired).",
    multiprocess_mode="mostrecent",
)


def refused(exc: BaseException, unreachable: bool = False, bot: str = BOT) -> None:
    """Count a send that failed, by the kind of answer (the sender classifies it)."""
    from telegram.error import (
        BadRequest,
        ChatMigrated,
        Forbidden,
        NetworkError,
        RetryAfter,
        TimedOut,
    )

    from coordinator.bots.aiohttp_request import NotSent
    from coordinator.bots.sender import STARS_SHORT

    reason = "error"
    if isinstance(exc, RetryAfter):
        TOO_MANY.labels(bot).inc()
        reason = "too_many_requests"
    elif isinstance(exc, ChatMigrated):
        reason = "chat_migrated"
    elif unreachable:
        reason = "unreachable"
    elif isinstance(exc, BadRequest) and any(s in exc.message.lower() for s in STARS_SHORT):
        reason = "stars_short"
    elif isinstance(exc, Forbidden | BadRequest):
        reason = "forbidden" if isinstance(exc, Forbidden) else "bad_request"
    elif isinstance(exc, NotSent):
        reason = "not_sent"
    elif isinstance(exc, TimedOut):
        reason = "timed_out"
    elif isinstance(exc, NetworkError):
        reason = "network"
    REFUSED.labels(bot, reason).inc()


@contextlib.contextmanager
def sweeping(sweep: str) -> Iterator[None]:
    with SWEEPS.labels(sweep).time():
        yield


def recounted(drifted_lines: int) -> None:
    RECOUNTED.set(time.time())
    DRIFTED.set(drifted_lines)
