"""Benchmark (issue 15): the national run on PostgreSQL. One national root over `--provinces`
provinces of `--communes-each` communes (two clubs each), `--members` members and past
campaigns enough for about `--reports` reports, all launched within the last 90 days:

  launch of a campaign to every member (the real service)    target <= 20 s at 1M members
  period tally (leadership, 91 days), uncached               target <= 200 ms at >= 10M reports
  summary rows of the same campaigns                         the floor the tally reads
  raw GROUP BY over the same tasks                           what the summary saves
  status page of the big campaign (every member)             in process, uncached

    .venv/bin/python -m bench.national --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.national --postgres ... --members 100000 --reports 1000000

The tree, the members and the past campaigns are bench/scale.py's `generate` (set-based
INSERT ... SELECT per campaign, the summary kept by its statement triggers), given the
national shape: its first level is the provinces. `generate` spaces campaigns 7 hours apart,
which would put most of a national history in the future; one UPDATE of the campaign rows
then spreads their launches evenly over the last 90 days (the summary has no day grain: a
period picks campaigns by launch). The measuring is bench/tallies.py's `timed` and
bench/launch.py's campaign, so the figures compare with theirs. Every figure is printed with
the load average at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import time
import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import col, select

from bench.launch import _campaign
from bench.scale import generate, say
from bench.tallies import RAW_GROUP_BY, TZ, timed
from coordinator.auth.models import User
from coordinator.auth.scope import SYSTEM, actor_for
from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Campaign
from coordinator.db import Database
from coordinator.tallies.period import period_tally
from coordinator.tallies.service import campaign_breakdown
from coordinator.tallies.summary import recount_summary, summary_lines
from tests import dbtools

# generate's past campaigns: each reaches three communes; nine members in ten have Telegram;
# each task leaves 1.4 reports (acknowledged 70 %, done 60 %, declined 10 %).
REPORTS_PER_MEMBER_REACHED = 3 * 0.9 * 1.4
COUNTED = "organization club member campaign assignment report outbox_message tally_summary"
SPREAD = (
    "UPDATE campaign SET launch_at = t.at, launched_at = t.at, created_at = t.at, "
    "deadline_at = t.at + interval '3 days', closed_at = t.at + interval '3 days' "
    "FROM (SELECT id, CAST(:start AS timestamptz) "
    "+ (row_number() OVER (ORDER BY id) - 1) * CAST(:step AS interval) AS at "
    "FROM campaign WHERE status = 'closed') t WHERE campaign.id = t.id"
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def figure(label: str, value: str) -> None:
    say(label, f"{value}   [{load()}]")


def campaigns_for(args: argparse.Namespace) -> int:
    communes = args.provinces * args.communes_each
    per_campaign = REPORTS_PER_MEMBER_REACHED * args.members / communes
    return max(1, math.ceil(args.reports / per_campaign))


async def spread_launches(db: Database, n_campaigns: int) -> None:
    start = utcnow() - timedelta(days=90)
    async with db.write() as session:
        await session.execute(
            text(SPREAD), {"start": start, "step": timedelta(days=89) / max(1, n_campaigns)}
        )
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE campaign"))
        await conn.commit()


async def launch_all(db: Database, ids: dict[str, int]) -> int:
    campaign_id = await _campaign(db, ids["agreement"], ids["root"], None)
    cpu = time.process_time()
    started = time.perf_counter()
    result = await campaigns.launch_campaign(db, SYSTEM, campaign_id)
    took = time.perf_counter() - started
    figure(
        "launch to every member",
        f"{took:.2f} s ({time.process_time() - cpu:.2f} s CPU here), "
        f"{result.created:,} tasks + outbox rows (target <= 20 s at 1M)",
    )
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))  # as tallies.py: the tally reads settled statistics
        await conn.commit()
    return campaign_id


async def measure(db: Database, campaign_id: int, args: argparse.Namespace) -> None:
    async with db.read() as session:
        users = {u.username: u for u in await session.scalars(select(User))}
        leadership = await actor_for(session, users["leadership"])
        admin = await actor_for(session, users["admin"])
        counts = {
            t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in COUNTED.split()
        }
    say("rows", ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    end = utcnow() + timedelta(days=1)
    start = end - timedelta(days=91)
    period = select(Campaign.id).where(
        col(Campaign.launched_at) >= start, col(Campaign.launched_at) < end
    )

    async def summary() -> None:
        async with db.read() as session:
            (await session.execute(summary_lines(period))).all()

    async def raw() -> None:
        async with db.read() as session:
            (await session.execute(text(RAW_GROUP_BY), {"s": start, "e": end})).all()

    tally = await period_tally(db, leadership, start, end, TZ)
    say("period tally counts", f"{tally.total.assigned:,} tasks of {tally.campaigns} campaigns")
    figure(
        "period tally (leadership, 91 days)",
        await timed(args.runs, lambda: period_tally(db, leadership, start, end, TZ)),
    )
    figure("summary rows, same campaigns", await timed(args.runs, summary))
    figure(
        "status page (the big campaign)",
        await timed(args.runs, lambda: campaign_breakdown(db, admin, campaign_id)),
    )
    if args.raw_runs:
        figure("raw GROUP BY, same tasks", await timed(args.raw_runs, raw))
    if args.recount:
        started = time.perf_counter()
        report = await recount_summary(db)
        figure(
            "exact recount (whole summary)",
            f"{time.perf_counter() - started:.2f} s, {len(report.lines)} lines drifted",
        )


async def run(url: str, args: argparse.Namespace) -> None:
    db = Database(url)
    try:
        n_campaigns = campaigns_for(args)
        ids = await generate(
            db,
            args.members,
            args.groups,
            n_campaigns,
            districts=args.provinces,
            communes_each=args.communes_each,
        )
        await spread_launches(db, n_campaigns)
        figure("generated", f"{n_campaigns:,} past campaigns over the last 90 days")
        campaign_id = await launch_all(db, ids)
        await measure(db, campaign_id, args)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--provinces", type=int, default=30)
    parser.add_argument("--communes-each", type=int, default=20)
    parser.add_argument("--reports", type=int, default=10_000_000, help="about this many")
    parser.add_argument("--groups", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--raw-runs", type=int, default=3, help="0 skips the raw GROUP BY")
    parser.add_argument("--recount", action="store_true", help="time one exact recount")
    parser.add_argument(
        "--postgres",
        required=True,
        help="server URL; a scratch database is created and dropped",
    )
    args = parser.parse_args()
    say(
        "machine",
        f"{platform.platform()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    )
    say("started", f"{time.strftime('%H:%M:%S', time.gmtime())} UTC   [{load()}]")
    url = asyncio.run(
        dbtools.create_pg_database(args.postgres, f"coord_national_{uuid.uuid4().hex[:8]}")
    )
    say("database", url.split("@")[-1])
    try:
        dbtools.upgrade(url)
        asyncio.run(run(url, args))
    finally:
        asyncio.run(dbtools.drop_pg_database(url))
    say("ended", f"{time.strftime('%H:%M:%S', time.gmtime())} UTC   [{load()}]")


if __name__ == "__main__":
    main()
