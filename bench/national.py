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

The tree (its first level the provinces), the agreement and the users are bench/scale.py's
`generate`; the members and the past campaigns are what `generate` writes (same columns,
statuses and reports, so `--members 100000 --provinces 10 --communes-each 10` is its province),
but one INSERT ... SELECT per table, launched evenly over the last 90 days, so the summary's
statement triggers run once per table. (`generate` inserted members one statement a row,
which fired the member-count trigger once per row: at a million in one transaction that took
longer than the rest together; it now sends 1,000 rows a statement.) The measuring is
bench/tallies.py's `timed` and bench/launch.py's campaign, so the figures compare with theirs.
Every figure is printed with the load average at that moment.
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
from typing import Any

from sqlalchemy import event, text
from sqlmodel import col, select

from bench.launch import _campaign, _cards, _statement_clock, _time_top_ups, _waiting
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

# The history below writes what generate's would (same members, statuses and reports), one
# statement per table: each task leaves 1.4 reports (acknowledged 70 %, done 60 %, declined
# 10 %), nine members in ten have Telegram, each past campaign reaches three communes.
REPORTS_PER_MEMBER_REACHED = 3 * 0.9 * 1.4
COUNTED = "organization club member campaign assignment report outbox_message tally_summary"
MEMBERS = (
    "INSERT INTO member (organization_id, display_name, code, telegram_user_id, locale, "
    "created_at) SELECT (CAST(:communes AS integer[]))[1 + n % cardinality(CAST(:communes "
    "AS integer[]))], 'Đoàn viên ' || lpad(n::text, 7, '0'), 'DV' || lpad(n::text, 7, '0'), "
    "CASE WHEN n % 10 = 0 THEN NULL ELSE 10000000 + n END, 'vi', now() "
    "FROM generate_series(0, :members - 1) n"
)
CLUBS = (  # generate's statement, run again now that the members exist
    "INSERT INTO member_club (member_id, club_id) SELECT m.id, c.id FROM member m "
    "JOIN club c ON c.organization_id = m.organization_id "
    "WHERE m.id % 5 < 3 AND c.id % 2 = m.id % 2"
)
CAMPAIGNS = (  # launched evenly over the last 90 days, each closed three days later
    "INSERT INTO campaign (agreement_id, title, brief, status, launch_at, deadline_at, "
    "delivery_mode, proof_requested, reminder_hours, remind_in_quiet_hours, created_at, "
    "launched_at, closed_at) SELECT :a, 'Chiến dịch ' || n, '', 'closed', at, "
    "at + interval '3 days', 'dm', false, '[24, 2]', false, at, at, at + interval '3 days' "
    "FROM (SELECT n, CAST(:start AS timestamptz) + n * CAST(:step AS interval) AS at "
    "FROM generate_series(0, :n - 1) n) s"
)
TARGETS = (
    "INSERT INTO campaign_target (campaign_id, organization_id) "
    "SELECT c.id, (CAST(:communes AS integer[]))[1 + (3 * (c.id - f.first) + k) "
    "% cardinality(CAST(:communes AS integer[]))] FROM campaign c "
    "CROSS JOIN (SELECT min(id) AS first FROM campaign) f CROSS JOIN generate_series(0, 2) k"
)
TASKS = (
    "INSERT INTO assignment (campaign_id, member_id, status, created_at, delivered_at, "
    "acknowledged_at, done_at, declined_at, expired_at) "
    "SELECT c.id, m.id, CASE (m.id + c.id) % 10 WHEN 6 THEN 'acknowledged' "
    "WHEN 7 THEN 'declined' WHEN 8 THEN 'expired' WHEN 9 THEN 'delivered' ELSE 'done' END, "
    "c.launched_at, c.launched_at, c.launched_at, c.launched_at, c.launched_at, c.launched_at "
    "FROM campaign c JOIN campaign_target t ON t.campaign_id = c.id "
    "JOIN member m ON m.organization_id = t.organization_id "
    "WHERE m.telegram_user_id IS NOT NULL"
)
REPORTS = (
    "INSERT INTO report (assignment_id, member_id, action, source, created_at) "
    "SELECT id, member_id, CAST(:action AS text), 'telegram', created_at FROM assignment "
    "WHERE status = ANY(CAST(:statuses AS text[]))"
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


async def history(db: Database, args: argparse.Namespace, agreement: int) -> None:
    """Members, clubs and past campaigns, one set-based statement each, so the summary's
    statement triggers run once per table rather than once per row."""
    started = time.perf_counter()
    n = campaigns_for(args)
    async with db.read() as session:
        communes = list(
            await session.scalars(text("SELECT id FROM organization WHERE kind = 'commune'"))
        )
    steps: list[tuple[str, dict[str, Any]]] = [
        (MEMBERS, {"communes": communes, "members": args.members}),
        (CLUBS, {}),
        (CAMPAIGNS, {"a": agreement, "n": n, "start": utcnow() - timedelta(days=90)}),
        (TARGETS, {"communes": communes}),
        (TASKS, {}),
    ]
    steps[2][1]["step"] = timedelta(days=89) / n
    for action, statuses in (
        ("acknowledged", ["acknowledged", "done"]),
        ("done", ["done"]),
        ("declined", ["declined"]),
    ):
        steps.append((REPORTS, {"action": action, "statuses": statuses}))
    for sql, params in steps:
        async with db.write() as session:
            await session.execute(text(sql), params)
        figure("  " + sql.split()[2], f"{time.perf_counter() - started:.1f} s so far")
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    figure("generated", f"{n:,} past campaigns in {time.perf_counter() - started:.1f} s")


def statement_clock(db: Database) -> list[tuple[float, str]]:
    """Every statement's wall time from here on, as (seconds, its first words): where the
    launch's time goes (an AFTER STATEMENT trigger counts in the statement that fired it)."""
    spans: list[tuple[float, str]] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(db.engine.sync_engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        spans.append((took, " ".join(statement.split())[:90]))

    return spans


async def launch_all(db: Database, ids: dict[str, int], statements: bool) -> int:
    """The launch as the user waits for it (`launch_campaign` returning), then what the
    senders pay later for the cards it left them: three top-ups, timed the same way."""
    campaign_id = await _campaign(db, ids["agreement"], ids["root"], None)
    spans = statement_clock(db) if statements else []
    backend = _statement_clock(db) if statements else None
    cpu = time.process_time()
    started = time.perf_counter()
    result = await campaigns.launch_campaign(db, SYSTEM, campaign_id)
    took = time.perf_counter() - started
    used = sum(c for _, c, _ in backend[1]()) if backend is not None else 0
    figure(
        "launch to every member",
        f"{took:.2f} s ({time.process_time() - cpu:.2f} s CPU here, {used} ms backend CPU), "
        f"{result.created:,} tasks, {await _cards(db):,} outbox rows, "
        f"{await _waiting(db):,} cards left to the senders (target <= 20 s at 1M)",
    )
    if statements:
        say("  statements", f"{len(spans)}, {sum(t for t, _ in spans):.2f} s together")
        for took, words in sorted(spans, reverse=True)[:6]:
            say(f"  {took:8.2f} s", words)
    await _time_top_ups(db, 3)
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
        # generate's tree (its first level the provinces), agreement and users; no members
        # or campaigns: the history below writes them one INSERT ... SELECT per table.
        ids = await generate(
            db, 0, args.groups, 0, districts=args.provinces, communes_each=args.communes_each
        )
        await history(db, args, ids["agreement"])
        campaign_id = await launch_all(db, ids, args.statements)
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
    parser.add_argument("--statements", action="store_true", help="time the launch's SQL")
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
