"""Benchmark: button presses end to end (bench/delivery.py's (c)) alone, several rounds.

    .venv/bin/python -m bench.presses [--presses 2000] [--rounds 3] [--postgres URL]
        [--profile FILE]

Each round launches a fresh campaign to --presses members, sends it (limits off), then has
every member press Acknowledge through the sandbox and waits until each press is recorded,
answered and its message edited. Prints, per round, presses/s, the CPU time of this process
per press (the bot and the pressing volunteers' client) and of the sandbox process per press,
and the load average: CPU per press is the steady figure on shared cores. --profile writes a
cProfile of this process during the presses of the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import uvloop
from sqlalchemy import func, select

from bench.delivery import TOKEN, TZ, _campaign, _people, _press, _relink, _setup
from coordinator.auth.scope import SYSTEM
from coordinator.bots import runtime
from coordinator.bots.sender import Sender, send_all
from coordinator.bots.telegram_client import make_bot
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.db import Database
from coordinator.organizations.models import Member
from coordinator.sandbox.run import free_port
from coordinator.settings import read_settings
from tests import dbtools


def _cpu_of(pid: int) -> float:
    """A process's user + system CPU seconds, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(
    db: Database,
    url: str,
    sandbox: tuple[str, int],
    target: tuple[int, int],
    presses: int,
    profile: str | None,
) -> None:
    (sandbox_url, sandbox_pid), (root, agreement) = sandbox, target
    http = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    async with make_bot(TOKEN, f"{sandbox_url}/bot") as bot:
        await campaigns.launch_campaign(db, SYSTEM, await _campaign(db, root, agreement))
        await send_all(Sender(db, bot, rate=100_000, timezone=TZ, batch=500, concurrency=64))
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": url})
    telegram = runtime.build(db, settings, TOKEN, f"{sandbox_url}/bot")
    async with runtime.running(telegram):
        async with db.read() as session:
            targets = (
                await session.execute(
                    select(Assignment.id, Assignment.telegram_message_id, Member.telegram_user_id)
                    .join(Member, Member.id == Assignment.member_id)
                    .where(Assignment.status == "delivered")
                    .limit(presses)
                )
            ).all()
            reports_before = await session.scalar(select(func.count(Report.id))) or 0
        before = (await http.get("/sandbox/stats")).json()["result"]
        profiler = cProfile.Profile(time.process_time) if profile else None
        async with aiohttp.ClientSession(base_url=sandbox_url) as volunteers:
            started, cpu, box = time.perf_counter(), time.process_time(), _cpu_of(sandbox_pid)
            if profiler:
                profiler.enable()
            for start in range(0, len(targets), 100):
                await asyncio.gather(
                    *(
                        _press(volunteers, assignment, message, chat)
                        for assignment, message, chat in targets[start : start + 100]
                    )
                )
            while True:
                stats = (await http.get("/sandbox/stats")).json()["result"]
                answered = stats["callback_answers"] - before["callback_answers"]
                edited = stats["edited"] - before["edited"]
                async with db.read() as session:
                    recorded = (await session.scalar(select(func.count(Report.id))) or 0) - (
                        reports_before
                    )
                if min(answered, edited, recorded) >= len(targets):
                    break
                await asyncio.sleep(0.02)
            if profiler:
                profiler.disable()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            box = _cpu_of(sandbox_pid) - box
    await http.aclose()
    if profiler and profile:
        profiler.dump_stats(profile)
    n = len(targets)
    print(
        f"(c) presses {n} in {elapsed:.2f} s = {n / elapsed:,.0f} presses/s; "
        f"{cpu * 1000 / n:.3f} ms CPU/press in this process, {box * 1000 / n:.3f} ms in the "
        f"sandbox; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


async def _run(url: str, sandbox_url: str, pid: int, args: argparse.Namespace) -> None:
    db = Database(url)
    http = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    try:
        people = await _people(http, args.presses)
        target = await _setup(db, people)
        await _relink(db, people)
        for n in range(args.rounds):
            profile = args.profile if n == args.rounds - 1 else None
            await _round(db, url, (sandbox_url, pid), target, args.presses, profile)
    finally:
        await http.aclose()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    parser.add_argument("--profile", help="write a cProfile of the last round's presses here")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
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
        if args.postgres:
            name = f"coord_presses_{uuid.uuid4().hex[:8]}"
            url = asyncio.run(dbtools.create_pg_database(args.postgres, name))
        else:
            url = f"sqlite+aiosqlite:////tmp/coord_presses_{uuid.uuid4().hex[:8]}.db"
        dbtools.upgrade(url)
        try:
            factory = uvloop.new_event_loop if args.loop == "uvloop" else None
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(_run(url, sandbox_url, sandbox.pid, args))
        finally:
            if args.postgres:
                asyncio.run(dbtools.drop_pg_database(url))
            else:
                Path(url.split("///", 1)[1]).unlink(missing_ok=True)
    finally:
        sandbox.terminate()
        sandbox.wait(10)


if __name__ == "__main__":
    main()
