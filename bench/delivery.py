"""Benchmark: delivery through the Bot API sandbox, in one run.

    .venv/bin/python -m bench.delivery [--fast 10000] [--limited 3000] [--presses 2000]
        [--paid 5000] [--spread 2000 --processes 3] [--postgres URL]

(a) limits off: messages/s one sender sustains over --fast assignments, beside a bare aiohttp
    loop to the same sandbox (bench/bare.py): the ceiling it is measured against;
(b) Telegram's limits on, the sender at the DEFAULT rate: achieved rate / allowed rate (30/s)
    over --limited DM assignments, and how many 429s the sandbox had to give (target: none);
(c) button presses handled per second end to end (sandbox -> bot -> database -> answer);
(d) --processes `coordinator worker` processes on PostgreSQL, limits on, --spread assignments:
    achieved / allowed and 429s (needs --postgres or COORDINATOR_TEST_POSTGRES_URL);
(f) a paid broadcast (allow_paid_broadcast) over --paid assignments: messages/s, Stars charged.

`--presses 0` or `--spread 0` skips (c) or (d). `--chunk N` makes a launch queue only N task cards
and the sender's leases queue the rest N at a time (`delivery.backlog`; 20,000 by default), so
(a) with --fast above N measures the sender with its top-ups.

The sandbox runs in a separate process (`coordinator sandbox`), as Telegram would be; the
database is a fresh SQLite file (or --postgres URL). Prints the machine's conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import httpx
from sqlalchemy import func, insert, select, text, update

from bench.bare import bare_rate
from bench.launch import _province
from coordinator import heap
from coordinator.auth.scope import SYSTEM
from coordinator.base import utcnow
from coordinator.bots import runtime
from coordinator.bots.sender import SENDER_LOCK, Sender, send_all
from coordinator.bots.telegram_client import make_bot
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.db import Database
from coordinator.delivery import backlog
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations import agreements
from coordinator.organizations.models import Member
from coordinator.sandbox.run import free_port
from coordinator.settings import DEFAULT_SEND_RATE, read_settings
from tests import dbtools
from tests.workers import start_worker, stop_workers

TOKEN = "1000:sandbox"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def _people(sandbox: httpx.AsyncClient, count: int) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, 200):
        batch = await asyncio.gather(
            *(
                sandbox.post("/sandbox/users", json={"first_name": f"v{n}"})
                for n in range(start, min(count, start + 200))
            )
        )
        ids += [r.json()["result"]["id"] for r in batch]
    return ids


async def _press(http: aiohttp.ClientSession, assignment: int, message: int, chat: int) -> None:
    body = {"user_id": chat, "chat_id": chat, "message_id": message, "data": f"t:{assignment}:ack"}
    async with http.post("/sandbox/presses", json=body) as response:
        response.raise_for_status()


async def _campaign(db: Database, root: int, agreement: int, paid: bool = False) -> int:
    now = utcnow()
    c = await campaigns.create_campaign(
        db,
        SYSTEM,
        campaigns.CampaignDraft(
            agreement_id=agreement,
            title=f"Bench {uuid.uuid4().hex[:6]}",
            launch_at=now,
            deadline_at=now + timedelta(days=3),
            paid_broadcast=paid,
        ),
    )
    assert c.id is not None
    await campaigns.add_content_item(
        db, SYSTEM, c.id, url="https://facebook.com/tinh/posts/1", kind="post", actions=["share"]
    )
    await campaigns.set_targets(db, SYSTEM, c.id, organization_ids=[root], club_ids=[])
    return c.id


async def _relink(db: Database, telegram_ids: list[int]) -> None:
    """Point the first len(telegram_ids) members at real sandbox accounts; the rest opt out."""
    async with db.write() as session:
        member_ids = (await session.scalars(select(Member.id).order_by(Member.id))).all()
        await session.execute(update(Member).values(opted_out_at=utcnow()))
        for member_id, telegram_id in zip(member_ids, telegram_ids, strict=False):
            await session.execute(
                update(Member)
                .where(Member.id == member_id)
                .values(telegram_user_id=telegram_id, opted_out_at=None)
            )


async def _limited_drain(
    db: Database, http: httpx.AsyncClient, sender: Sender
) -> tuple[int, float, int]:
    """Send until nothing is pending or sending; (messages sent, seconds, 429s given)."""
    before = (await http.get("/sandbox/stats")).json()["result"]
    started = time.perf_counter()
    while True:
        await sender.run_once()
        async with db.read() as session:
            left = await session.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.status.in_(["pending", "sending"]))
                .limit(1)
            )
        if left is None:
            break
    elapsed = time.perf_counter() - started
    after = (await http.get("/sandbox/stats")).json()["result"]
    return after["sent"] - before["sent"], elapsed, after["refused_429"] - before["refused_429"]


async def _setup(db: Database, people: list[int]) -> tuple[int, int]:
    """A province with an agreement, a channel and one member per sandbox account."""
    root = await _province(db, 0)
    today = utcnow().date()
    created = await agreements.create_agreement(
        db,
        None,
        title="Quy chế",
        lead_organization_id=root,
        party_ids=[],
        signed_on=today,
        valid_from=today,
        valid_until=today + timedelta(days=365),
    )
    await agreements.create_channel(
        db,
        None,
        organization_id=root,
        platform="facebook",
        url="https://facebook.com/tinh",
        name="Trang",
    )
    async with db.write() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": root,
                    "display_name": f"v{n}",
                    "telegram_user_id": p,
                    "locale": "vi",
                    "created_at": utcnow(),
                }
                for n, p in enumerate(people)
            ],
        )
    return root, created.id or 0


async def run(
    url: str, sandbox_url: str, fast: int, limited: int, presses: int, paid: int
) -> list[int]:
    db = Database(url)
    http = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    try:
        people = await _people(http, max(fast, limited, presses, paid))
        root, agreement = await _setup(db, people)
        async with make_bot(TOKEN, f"{sandbox_url}/bot") as bot:
            # (a) limits off
            await _relink(db, people[:fast])
            await campaigns.launch_campaign(db, SYSTEM, await _campaign(db, root, agreement))
            sender = Sender(db, bot, rate=100_000, timezone=TZ, batch=5000)
            heap.settle()  # as the worker does once it has started (the bare loop's too)
            started, cpu = time.perf_counter(), time.process_time()
            sent = await send_all(sender)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            rate_a = sent / elapsed
            print(
                f"(a) limits off     {sent} messages in {elapsed:.1f} s = {rate_a:,.0f} msg/s; "
                f"{cpu * 1000 / sent:.3f} ms CPU/message (sender and database)"
            )
            bare, bare_cpu = await bare_rate(f"{sandbox_url}/bot{TOKEN}", people[:fast])
            print(
                f"(a) bare aiohttp   {bare:,.0f} msg/s; {bare_cpu:.3f} ms CPU/message; "
                f"the sender reaches {rate_a / bare:.2f} of it"
            )
            # (b) Telegram's limits on, the sender at the default rate
            await http.put("/sandbox/limits", json={"enabled": True})
            await _relink(db, people[:limited])
            await campaigns.launch_campaign(db, SYSTEM, await _campaign(db, root, agreement))
            sender = Sender(db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ)
            sent, elapsed, refused = await _limited_drain(db, http, sender)
            print(
                f"(b) limits on      {sent} messages in {elapsed:.1f} s = {sent / elapsed:.2f} "
                f"msg/s; achieved/allowed = {sent / elapsed / 30:.3f}; 429s: {refused} "
                f"(default rate {DEFAULT_SEND_RATE:g}/s)"
            )
            # (f) a paid broadcast: limits on, the bot's Stars paying for each message
            await _relink(db, people[:paid])
            await http.put("/sandbox/stars", json={"stars": paid})
            await campaigns.launch_campaign(db, SYSTEM, await _campaign(db, root, agreement, True))
            before = (await http.get("/sandbox/stats")).json()["result"]
            sender = Sender(db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ, batch=500)
            sent, elapsed, refused = await _limited_drain(db, http, sender)
            after = (await http.get("/sandbox/stats")).json()["result"]
            print(
                f"(f) paid broadcast {sent} messages in {elapsed:.1f} s = {sent / elapsed:,.0f} "
                f"msg/s; {after['paid_sent'] - before['paid_sent']} paid, "
                f"{after['stars_spent'] - before['stars_spent']:g} Stars charged; 429s: {refused}"
            )
            await http.put("/sandbox/limits", json={"enabled": False})
        if presses:  # (c) presses end to end
            settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": url})
            telegram = runtime.build(db, settings, TOKEN, f"{sandbox_url}/bot")
            async with runtime.running(telegram):
                async with db.read() as session:
                    targets = (
                        await session.execute(
                            select(
                                Assignment.id,
                                Assignment.telegram_message_id,
                                Member.telegram_user_id,
                            )
                            .join(Member, Member.id == Assignment.member_id)
                            .where(Assignment.status == "delivered")
                            .limit(presses)
                        )
                    ).all()
                # The volunteers press through aiohttp: httpx would spend more CPU in this process,
                # which the bot shares, than the bot itself.
                before = (await http.get("/sandbox/stats")).json()["result"]
                async with aiohttp.ClientSession(base_url=sandbox_url) as volunteers:
                    started, cpu = time.perf_counter(), time.process_time()
                    for start in range(0, len(targets), 100):
                        await asyncio.gather(
                            *(
                                _press(volunteers, assignment, message, chat)
                                for assignment, message, chat in targets[start : start + 100]
                            )
                        )
                # End to end: recorded, answered, and the volunteer's message edited to show it.
                while True:
                    stats = (await http.get("/sandbox/stats")).json()["result"]
                    answered = stats["callback_answers"] - before["callback_answers"]
                    edited = stats["edited"] - before["edited"]
                    async with db.read() as session:
                        recorded = await session.scalar(select(func.count(Report.id)))
                    if min(answered, edited, recorded or 0) >= len(targets):
                        break
                    await asyncio.sleep(0.02)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(
                    f"(c) presses        {len(targets)} presses in {elapsed:.1f} s = "
                    f"{len(targets) / elapsed:,.0f} presses/s; {cpu * 1000 / len(targets):.2f} ms "
                    f"CPU/press in this process (the bot and the pressing volunteers); "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
    finally:
        await http.aclose()
        await db.dispose()
    return people


async def _sender_elected(db: Database, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with db.read() as session:
            held = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :high AND objid = :low"
                ),
                {"high": SENDER_LOCK >> 32, "low": SENDER_LOCK & 0xFFFFFFFF},
            )
        if held:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("(d) no worker became the sender")


async def spread(url: str, sandbox_url: str, people: list[int], processes: int, logs: Path) -> None:
    """(d) `processes` workers share one budget on PostgreSQL; the rate Telegram sees."""
    db = Database(url)
    http = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    workers = [start_worker(url, sandbox_url, logs / f"worker{n}.log") for n in range(processes)]
    try:
        root, agreement = await _setup(db, people)
        await http.put("/sandbox/limits", json={"enabled": True})
        await _sender_elected(db)  # the workers are up: what follows is delivery, not start-up
        before = (await http.get("/sandbox/stats")).json()["result"]
        launched = time.perf_counter()
        await campaigns.launch_campaign(db, SYSTEM, await _campaign(db, root, agreement))
        first = last = 0.0
        deadline = launched + len(people) / 20 + 60
        while time.perf_counter() < deadline:
            stats = (await http.get("/sandbox/stats")).json()["result"]
            sent = stats["sent"] - before["sent"]
            if sent and not first:
                first = time.perf_counter()
            if sent >= len(people):
                last = time.perf_counter()
                break
            await asyncio.sleep(0.02)
        if not last:
            raise RuntimeError(f"(d) only {sent} of {len(people)} delivered before the deadline")
        rate = (len(people) - 1) / (last - first)
        refused = stats["refused_429"] - before["refused_429"]
        print(
            f"(d) {processes} workers pg   {len(people)} messages in {last - first:.1f} s = "
            f"{rate:.2f} msg/s; achieved/allowed = {rate / 30:.3f}; 429s: {refused}; "
            f"launch to first message {first - launched:.1f} s, to last {last - launched:.1f} s "
            f"({len(people) / (last - launched) / 30:.3f} of allowed)"
        )
        await http.put("/sandbox/limits", json={"enabled": False})
    finally:
        stop_workers(workers)
        await http.aclose()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", type=int, default=10_000)
    parser.add_argument("--limited", type=int, default=3_000)
    parser.add_argument("--presses", type=int, default=2_000)
    parser.add_argument("--paid", type=int, default=5_000)
    parser.add_argument("--spread", type=int, default=2_000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument(
        "--chunk", type=int, help="task cards a launch queues (the senders queue the rest)"
    )
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    args = parser.parse_args()
    if args.chunk:  # in this process only: (a)-(c) and (f), not the workers of (d)
        backlog.CARD_CHUNK = args.chunk
    pg_server = args.postgres or os.environ.get("COORDINATOR_TEST_POSTGRES_URL")
    print(
        f"machine            {platform.platform()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} "
        "(other work on the machine slows every figure)"
    )
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        sandbox_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{sandbox_url}/bot{TOKEN}/getMe")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres:
                url = asyncio.run(
                    dbtools.create_pg_database(args.postgres, f"coord_bench_{uuid.uuid4().hex[:8]}")
                )
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            dbtools.upgrade(url)
            print(f"database           {url.split(':')[0]}")
            try:
                people = asyncio.run(
                    run(url, sandbox_url, args.fast, args.limited, args.presses, args.paid)
                )
            finally:
                if args.postgres:
                    asyncio.run(dbtools.drop_pg_database(url))
            if not args.spread:
                return
            if not pg_server:
                print("(d) skipped: no PostgreSQL (--postgres or COORDINATOR_TEST_POSTGRES_URL)")
                return
            url = asyncio.run(
                dbtools.create_pg_database(pg_server, f"coord_bench_{uuid.uuid4().hex[:8]}")
            )
            dbtools.upgrade(url)
            try:
                asyncio.run(
                    spread(url, sandbox_url, people[: args.spread], args.processes, Path(tmp))
                )
            finally:
                asyncio.run(dbtools.drop_pg_database(url))
    finally:
        sandbox.terminate()
        sandbox.wait(10)


if __name__ == "__main__":
    main()
