"""Delivery under faults that last, with real processes: SIGKILL, a frozen Bot API, a database
that refuses writes, a malformed webhook update, several senders against Telegram's limits.

"Lost" is judged from the volunteers' side: a volunteer whose chat in the sandbox has no card.
"Settled" from the database's: no task still pending, no outbox row pending, sending or
uncertain. Every wait has a deadline; none sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.sandbox.run import free_port
from coordinator.tallies.service import campaign_tally
from tests.conftest import BACKEND
from tests.faults.conftest import WriteRefusal
from tests.faults.crowd import Crowd, Delivery, delivery, launch, received, settled, summary
from tests.faults.harness import (
    FreezableProxy,
    Process,
    Processes,
    Sandbox,
    freezable_proxy,
    sender_concurrency,
    wait_for,
)

pytestmark = pytest.mark.faults

RATE = "100"  # messages/s per sender with limits off: 2,000 in ~20 s, time to strike mid-way
STRIKE_AFTER = 300  # messages the sandbox has taken before a fault strikes
RECOVER_WITHIN = 20.0  # s: a restarted worker takes up what a killed one left in doubt
FINISH_WITHIN = 45.0  # s after the last fault: the rest of 2,000 at RATE, plus recovery
START_WITHIN = 30.0  # s for a process to come up on a busy machine


async def _sent(sandbox: Sandbox) -> int:
    return int((await sandbox.stats())["sent"])


async def _strike_when_sent(sandbox: Sandbox, count: int) -> int:
    async def enough() -> int:
        sent = await _sent(sandbox)
        return sent if sent >= count else 0

    return await wait_for(enough, within=60, what=f"the sandbox has taken {count} messages")


async def _finish(db: Database, sandbox: Sandbox, crowd: Crowd) -> Delivery:
    try:
        return await wait_for(
            lambda: settled(db, crowd.campaign_id),
            within=FINISH_WITHIN,
            what="every task delivered, nothing pending, sending or uncertain",
            every=0.5,
        )
    except AssertionError as exc:
        left = await delivery(db, crowd.campaign_id)
        seen = await received(sandbox, list(left.chats))
        raise AssertionError(f"{exc}: {summary(left, seen)}") from None


async def _assert_nothing_lost(sandbox: Sandbox, state: Delivery, duplicates_at_most: int) -> None:
    """Every volunteer holds the card, their task says delivered, nothing is left in doubt,
    and the copies a crash made are few and say that they are copies. All in one report."""
    seen = await received(sandbox, list(state.chats))
    checks = {
        f"{len(seen.lost)} volunteers never got their task": not seen.lost,
        f"tasks not all delivered: {dict(state.tasks)}": state.tasks
        == Counter(delivered=len(state.chats)),
        f"{state.delivered_at_missing} delivered without delivered_at": not (
            state.delivered_at_missing
        ),
        "rows left sending or uncertain": not (state.outbox["uncertain"] + state.outbox["sending"]),
        "rows dead-lettered while Telegram was healthy": not state.outbox["failed"],
        f"{len(seen.unflagged)} volunteers see identical cards (a copy must say it is one)": not (
            seen.unflagged
        ),
        f"{seen.duplicates} duplicate cards, more than {duplicates_at_most} (what was in flight)": (
            seen.duplicates <= duplicates_at_most
        ),
    }
    problems = [problem for problem, fine in checks.items() if not fine]
    assert not problems, "; ".join(problems) + f" ({summary(state, seen)})"


async def _in_doubt(db: Database) -> dict[int, tuple[str, datetime | None]]:
    """Rows a crash left without a known result, with the lease they were left under."""
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.lease_until).where(
                col(OutboxMessage.status).in_(("sending", "uncertain"))
            )
        )
        return {int(i): (s, lease) for i, s, lease in rows.all()}


async def _taken_up(db: Database, left: dict[int, tuple[str, datetime | None]]) -> bool:
    """At least one row the crash left in doubt has moved on (resent, leased again, settled)."""
    if not left:
        return True
    now = await _in_doubt(db)
    return any(now.get(row) != was for row, was in left.items())


def _worker(procs: Processes, api_url: str) -> Process:
    return procs.worker(api_url, COORDINATOR_SEND_RATE=RATE)


async def test_it_loses_no_task_to_two_sigkills_in_a_row(
    db: Database, processes: Processes, sandbox: Sandbox, crowd: Crowd
) -> None:
    """Found: a lease marked a whole batch `sending`, so a crash left 200 rows uncertain
    with ~20 in flight, recovery took ~70 s, and a second crash lost tasks for good."""
    await launch(db, crowd)
    first = _worker(processes, sandbox.api_url)
    at_first = await _strike_when_sent(sandbox, STRIKE_AFTER)
    first.kill()
    left = await _in_doubt(db)

    second = _worker(processes, sandbox.api_url)
    await _strike_when_sent(sandbox, at_first + STRIKE_AFTER)
    await wait_for(
        lambda: _taken_up(db, left),
        within=RECOVER_WITHIN,
        what=f"the restarted worker takes up the {len(left)} rows the SIGKILL left in doubt",
    )
    second.kill()

    third = _worker(processes, sandbox.api_url)
    state = await _finish(db, sandbox, crowd)
    # Each crash can leave in doubt only what was in flight: one sender's concurrency.
    await _assert_nothing_lost(sandbox, state, duplicates_at_most=2 * sender_concurrency())
    assert third.alive()


async def test_it_loses_no_task_while_the_bot_api_is_frozen(
    db: Database, processes: Processes, sandbox: Sandbox, crowd: Crowd
) -> None:
    """Found: read timeouts left rows uncertain for good; volunteers who had the message
    stayed pending in the tallies, and about one task per run was never delivered."""
    async with freezable_proxy(sandbox.url) as proxy:
        await launch(db, crowd)
        worker = _worker(processes, proxy.api_url)
        await _strike_when_sent(sandbox, STRIKE_AFTER)
        proxy.freeze(20)
        await wait_for(_thawed(proxy), within=30, what="the 20 s freeze ends")
        assert proxy.held, "the freeze held no request: it struck after delivery ended"
        state = await _finish(db, sandbox, crowd)
        await _assert_nothing_lost(sandbox, state, duplicates_at_most=sender_concurrency())
        # What the coordinator sees: nobody who holds the card is still counted as pending.
        tally = await campaign_tally(db, crowd.world.actor["coordinator"], crowd.campaign_id)
        assert tally.by_status["pending"] == 0, tally.by_status
        assert tally.by_status["delivered"] == crowd.members, tally.by_status
        assert worker.alive()


def _thawed(proxy: FreezableProxy) -> Any:
    async def check() -> bool:
        return proxy.thawed.is_set()

    return check


async def _ready(web: httpx.AsyncClient) -> int:
    """/health/ready's status code (0 when it does not answer in time)."""
    try:
        response = await web.get("/health/ready")
    except httpx.HTTPError:
        return 0
    if response.status_code in (200, 503):
        response.json()  # readiness explains itself: per-loop ticks, outbox lag, counts
    return response.status_code


async def _web_up(web: httpx.AsyncClient) -> bool:
    try:
        return (await web.get("/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _through_outage(
    web: httpx.AsyncClient, refusal: WriteRefusal, seconds: float
) -> set[int]:
    """Refuse writes for `seconds`, polling readiness meanwhile; the statuses it gave."""
    seen: set[int] = set()
    await refusal.refuse()
    try:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            seen.add(await _ready(web))
            await asyncio.sleep(0.5)  # the polling interval, not a wait for something
    finally:
        await refusal.allow()
    return seen


async def test_it_survives_a_database_refusing_writes_and_readiness_tells(
    db: Database,
    app_database: tuple[str, str | None],
    processes: Processes,
    sandbox: Sandbox,
    crowd: Crowd,
) -> None:
    """Found: the sender died on its first database error, silently, and /health said ok.
    The sender's process here runs web and bot (`serve`): its /health/ready judges its loops."""
    url, role = app_database
    port = free_port()
    server = processes.serve(
        sandbox.api_url, port, COORDINATOR_SEND_RATE=RATE, COORDINATOR_DATABASE_URL=url
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3) as web:
        await wait_for(lambda: _web_up(web), within=START_WITHIN, what="serve answers /health")
        await launch(db, crowd)
        await _strike_when_sent(sandbox, STRIKE_AFTER)
        during = await _through_outage(web, WriteRefusal(db.url, role), 15)
        assert server.alive(), "the sender's process died with the database"
        state = await _finish(db, sandbox, crowd)
        await _assert_nothing_lost(sandbox, state, duplicates_at_most=sender_concurrency())
        ready = await wait_for(
            lambda: _green(web), within=30, what="/health/ready is 200 after the outage"
        )
        assert ready == 200
        assert 503 in during, f"/health/ready never said 503 during the outage: {during}"


async def _green(web: httpx.AsyncClient) -> int:
    return 200 if await _ready(web) == 200 else 0


SECRET = "webhook-secret-for-the-fault-tests"


def _help_update(update_id: int, person: int) -> dict[str, Any]:
    user = {"id": person, "is_bot": False, "first_name": "Tình nguyện viên"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user,
            "chat": {"id": person, "type": "private", "first_name": user["first_name"]},
            "date": int(time.time()),
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def test_it_handles_updates_after_a_malformed_one_in_webhook_mode(
    processes: Processes, sandbox: Sandbox
) -> None:
    """Found: one update the library cannot parse killed the webhook inbox loop; every
    later update waited for a restart. The bad one goes first (lower update_id), as it came."""
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/webhook"
    server = processes.serve(
        sandbox.api_url,
        port,
        COORDINATOR_TELEGRAM_MODE="webhook",
        COORDINATOR_WEBHOOK_URL=hook,
        COORDINATOR_WEBHOOK_SECRET=SECRET,
    )
    (person,) = await sandbox.people(1)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as web:
        await wait_for(lambda: _web_up(web), within=START_WITHIN, what="serve answers /health")
        bad = await web.post(
            "/telegram/webhook", json={"update_id": 900000000, "callback_query": 5}, headers=headers
        )
        assert bad.status_code == 200, "Telegram must not be made to retry a bad update"
        good = await web.post(
            "/telegram/webhook", json=_help_update(900000001, person), headers=headers
        )
        assert good.status_code == 200
        await wait_for(
            lambda: _replies(sandbox, person, 1), within=20, what="the bot answers the next update"
        )
        # And updates that come the ordinary way, from Telegram to the webhook, still do.
        await sandbox.call("POST", "messages", {"user_id": person, "text": "/help"})
        await wait_for(
            lambda: _replies(sandbox, person, 2), within=20, what="the bot answers a later /help"
        )
    assert server.alive()


async def _replies(sandbox: Sandbox, person: int, count: int) -> bool:
    return len((await sandbox.bot_messages([person]))[person]) >= count


@pytest.mark.skipif(BACKEND != "postgres", reason="several senders share PostgreSQL")
async def test_it_keeps_one_telegram_budget_across_three_senders(
    db: Database, processes: Processes, sandbox: Sandbox, crowd: Crowd
) -> None:
    """Found: each process paced itself, so `worker` × 3 got thousands of 429s. One
    budget for the deployment: Telegram's limits on, the default rate, not one 429."""
    await sandbox.limits(True)
    await launch(db, crowd)
    workers = [processes.worker(sandbox.api_url) for _ in range(3)]  # the default rate
    state = await wait_for(
        lambda: settled(db, crowd.campaign_id),
        within=150,  # 2,000 at no more than 30/s is 67 s at best
        what="2,000 messages delivered by three senders",
        every=1.0,
    )
    await _assert_nothing_lost(sandbox, state, duplicates_at_most=0)
    stats = await sandbox.stats()
    assert stats["refused_429"] == 0, f"{stats['refused_429']} × 429 for {stats['sent']} messages"
    assert all(w.alive() for w in workers)
