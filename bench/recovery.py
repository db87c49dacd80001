"""Benchmark (e): recovery after a SIGKILL mid-delivery, with real processes.

    .venv/bin/python -m bench.recovery [--members 2000] [--strike-after 500] [--rate 100]
                                       [--postgres postgresql+asyncpg://postgres@127.0.0.1/x]

A `coordinator worker` delivers a campaign to --members volunteers through a `coordinator
sandbox` process; after --strike-after messages it is killed with SIGKILL and started again.
Measured:
- rows left in doubt: outbox rows `sending`/`uncertain` right after the kill (target: no more
  than the sender's concurrency, what can really be in flight);
- resume: from the restart until the sandbox takes its first new message (target <= 10 s);
- recovery: from the restart until every row the kill left in doubt is settled (target <= 10 s);
- duplicates: volunteers holding more than one card at the end.
Prints the machine's conditions. The database is a fresh SQLite file, or a fresh database on the
PostgreSQL server of --postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text
from sqlmodel import col, select

from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from tests import dbtools
from tests.faults.crowd import UNSETTLED, build_crowd, delivery, launch, received
from tests.faults.harness import Processes, Sandbox, sender_concurrency, start_sandbox, wait_for

TARGET_SECONDS = 10.0
IN_DOUBT = ("sending", "uncertain")


async def _sent(sandbox: Sandbox) -> int:
    return int((await sandbox.stats())["sent"])


async def _first_new_message(sandbox: Sandbox, after: int, within: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await _sent(sandbox) > after:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def _rows(db: Database, statuses: tuple[str, ...]) -> set[int]:
    async with db.read() as session:
        found = await session.scalars(
            select(OutboxMessage.id).where(col(OutboxMessage.status).in_(statuses))
        )
        return {int(i) for i in found if i is not None}


async def _settled_rows(db: Database, ids: set[int]) -> bool:
    """Every row in `ids` is finished: neither pending nor in doubt any more."""
    return not ids & await _rows(db, UNSETTLED)


async def _seconds_until(
    check: Callable[[], Awaitable[bool]], within: float, since: float
) -> float | None:
    """Seconds from `since` until `check` holds; None if not within `within` seconds."""
    try:
        await wait_for(check, within=within, what="", every=0.1)
    except AssertionError:
        return None
    return time.monotonic() - since


def _figure(seconds: float | None, within: float) -> str:
    if seconds is None:
        return f"not within {within:g} s"
    verdict = "ok" if seconds <= TARGET_SECONDS else "over target"
    return f"{seconds:.1f} s ({verdict}, target <= {TARGET_SECONDS:g} s)"


async def _conditions(db: Database) -> str:
    if db.dialect == "postgresql":
        async with db.read() as session:
            version = await session.scalar(text("SHOW server_version"))
        database = f"PostgreSQL {version}"
    else:
        database = f"SQLite {sqlite3.sqlite_version} (WAL)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores, load {load}; Python {platform.python_version()} "
        f"on {platform.system()} {platform.release()}; database: {database}"
    )


async def measure(db: Database, work: Path, members: int, strike_after: int, rate: str) -> None:
    processes = Processes(work, db.url)
    sandbox = await start_sandbox(processes)
    try:
        crowd = await build_crowd(db, sandbox, members)
        await launch(db, crowd)
        first = processes.worker(sandbox.api_url, COORDINATOR_SEND_RATE=rate)
        await wait_for(
            lambda: _at_least(sandbox, strike_after), within=120, what="delivery under way"
        )
        first.kill()
        at_kill, left = await _sent(sandbox), await _rows(db, IN_DOUBT)
        restarted = time.monotonic()
        processes.worker(sandbox.api_url, COORDINATOR_SEND_RATE=rate)
        resume = await _first_new_message(sandbox, at_kill, 120)
        recovery = await _seconds_until(lambda: _settled_rows(db, left), 180, restarted)
        finished = await _seconds_until(lambda: _settled(db, crowd.campaign_id), 240, restarted)
        seen = await received(sandbox, list((await delivery(db, crowd.campaign_id)).chats))
        concurrency = sender_concurrency()
        print(f"(e) recovery after SIGKILL, {members} volunteers, killed after {at_kill} sent")
        verdict = "ok" if len(left) <= concurrency else "over target"
        print(f"    rows left in doubt: {len(left)} ({verdict}, target <= {concurrency})")
        print(f"    resume (first new message after restart): {_figure(resume, 120)}")
        print(f"    recovery (rows in doubt settled): {_figure(recovery, 180)}")
        print(f"    campaign settled: {_figure(finished, 240).split(' (')[0]} after the restart")
        print(f"    volunteers without the card: {len(seen.lost)}; duplicates: {seen.duplicates}")
        print(f"    {await _conditions(db)}")
    finally:
        processes.stop_all()
        await sandbox.close()


async def _at_least(sandbox: Sandbox, count: int) -> bool:
    return await _sent(sandbox) >= count


async def _settled(db: Database, campaign_id: int) -> bool:
    return (await delivery(db, campaign_id)).settled


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp:
        work = Path(tmp)
        if args.postgres:
            name = f"bench_recovery_{uuid.uuid4().hex[:8]}"
            url = await dbtools.create_pg_database(args.postgres, name)
        else:
            url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        await asyncio.to_thread(dbtools.upgrade, url)
        db = Database(url)
        try:
            await measure(db, work, args.members, args.strike_after, str(args.rate))
        finally:
            await db.dispose()
            if args.postgres:
                await dbtools.drop_pg_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--strike-after", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="COORDINATOR_SEND_RATE")
    parser.add_argument("--postgres", help="a PostgreSQL URL; a fresh database is made on it")
    asyncio.run(main(parser.parse_args()))
