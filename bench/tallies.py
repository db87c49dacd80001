"""Benchmark (issue 15): uncached tallies at about 3M reports, read from the tally summary,
side by side with the GROUP BY the summary replaces and with reading the summary rows alone.

    .venv/bin/python -m bench.tallies                               # SQLite in a temp dir
    .venv/bin/python -m bench.tallies --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.tallies --campaigns 100                # a quick run

The data is bench/scale.py's province (100,000 members, 1,000 group chats) with `--campaigns`
past campaigns (780: about 2.1M tasks and 3.1M reports) and one launch to the whole province
(90,000 tasks). Each figure is measured in process, no HTTP and no cache, `--runs` times:

  period tally (leadership, 90 days)     target <= 100 ms p95, <= 2x reading the summary rows
  raw GROUP BY over the same tasks       what one uncounted scan costs (the old way scanned 4x)
  summary rows of the same campaigns     the floor
  status page (90,000-task campaign)     target <= 30 ms
  exact recount of the whole summary     the hourly repair's cost (once)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import col, select

from bench.scale import generate, launch_big, say
from coordinator.auth.models import User
from coordinator.auth.scope import Actor, actor_for
from coordinator.base import utcnow
from coordinator.campaigns.models import Campaign
from coordinator.db import Database
from coordinator.tallies.period import period_tally
from coordinator.tallies.service import campaign_breakdown
from coordinator.tallies.summary import recount_summary, summary_lines
from tests import dbtools

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RAW_GROUP_BY = (
    "SELECT a.campaign_id, m.organization_id, a.status, count(*), "
    "sum(CASE WHEN m.unreachable_at IS NULL THEN 0 ELSE 1 END) "
    "FROM assignment a JOIN member m ON m.id = a.member_id "
    "WHERE a.campaign_id IN (SELECT id FROM campaign WHERE launched_at >= :s AND launched_at < :e) "
    "GROUP BY a.campaign_id, m.organization_id, a.status"
)


async def timed(runs: int, work: Callable[[], Awaitable[Any]]) -> str:
    await work()  # warm the page cache and the connection pool, as a running server has them
    spans = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        spans.append((time.perf_counter() - started) * 1000)
    spans.sort()
    p95 = spans[min(len(spans) - 1, round(0.95 * (len(spans) - 1)))]
    return f"median {statistics.median(spans):7.1f} ms   p95 {p95:7.1f} ms"


async def measure(db: Database, campaign_id: int, runs: int) -> None:
    async with db.read() as session:
        user = (await session.scalars(select(User).where(User.username == "leadership"))).one()
        leadership: Actor = await actor_for(session, user)
        admin = await actor_for(
            session, (await session.scalars(select(User).where(User.username == "admin"))).one()
        )
        counts = {
            t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in ("assignment", "report", "tally_summary")
        }
    say("rows", ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    end = utcnow() + timedelta(days=1)
    start = end - timedelta(days=91)
    period = select(Campaign.id).where(
        col(Campaign.launched_at) >= start, col(Campaign.launched_at) < end
    )

    async def raw() -> None:
        async with db.read() as session:
            (await session.execute(text(RAW_GROUP_BY), {"s": start, "e": end})).all()

    async def summary() -> None:
        async with db.read() as session:
            (await session.execute(summary_lines(period))).all()

    tally = await period_tally(db, leadership, start, end, TZ)
    say("period tally counts", f"{tally.total.assigned:,} tasks of {tally.campaigns} campaigns")
    say(
        "period tally (leadership, 91 days)",
        await timed(runs, lambda: period_tally(db, leadership, start, end, TZ)),
    )
    say("raw GROUP BY, same tasks", await timed(runs, raw))
    say("summary rows, same campaigns", await timed(runs, summary))
    say(
        "status page (90,000 tasks)",
        await timed(runs, lambda: campaign_breakdown(db, admin, campaign_id)),
    )
    started = time.perf_counter()
    report = await recount_summary(db)
    say(
        "exact recount (whole summary)",
        f"{time.perf_counter() - started:.2f} s, {len(report.lines)} lines drifted",
    )


async def run(url: str, args: argparse.Namespace) -> None:
    db = Database(url)
    try:
        ids = await generate(db, args.members, args.groups, args.campaigns)
        campaign_id = await launch_big(db, ids)
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        await measure(db, campaign_id, args.runs)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--campaigns", type=int, default=780)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    args = parser.parse_args()
    load = os.getloadavg()
    say(
        "machine",
        f"{platform.platform()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    )
    say("load average at start", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = asyncio.run(
                dbtools.create_pg_database(args.postgres, f"coord_tallies_{uuid.uuid4().hex[:8]}")
            )
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'tallies.db'}"
        say("database", url.split("@")[-1] if args.postgres else "SQLite (WAL) in a temp dir")
        try:
            dbtools.upgrade(url)
            asyncio.run(run(url, args))
        finally:
            if args.postgres:
                asyncio.run(dbtools.drop_pg_database(url))
    load = os.getloadavg()
    say("load average at end", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
