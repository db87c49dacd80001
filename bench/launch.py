"""Benchmark: launching one campaign to N members (its tasks and first task cards, one transaction).

    .venv/bin/python -m bench.launch --members 100000                      # SQLite in a temp dir
    .venv/bin/python -m bench.launch --members 100000 --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.launch --members 100000 --postgres ... --analyze   # stale statistics

`--cap N` sets the deployment's weekly cap (`COORDINATOR_WEEKLY_TASK_CAP`) and, after the
first, launches a second campaign to the same members; with `--cap 1` every task of the second
is held back. `--share P` asks P % of each organization's members (fair load).

`--analyze` runs ANALYZE once the members exist and before the first launch, so the planner
has seen an empty `assignment` table: the first launch on a fresh deployment.

`--statements` prints the first launch's slowest statements: wall time and, when PostgreSQL
runs on this machine, the CPU its backend spent on each (read from /proc), which other
processes on the cores disturb far less than the wall time.

`--top-ups N` (default 3) then times N of the senders' top-ups of the cards the launch left
them (`delivery.backlog.top_up`, each in its own transaction, as a lease runs it).

Prints the time to launch, the rows written, and the machine's conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select

from coordinator.auth.scope import SYSTEM
from coordinator.base import utcnow
from coordinator.campaigns import launch as _sources  # noqa: F401  the cards' sources
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import HeldTask
from coordinator.db import Database
from coordinator.delivery import backlog
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations import agreements
from coordinator.organizations import service as orgs
from coordinator.organizations.models import Member
from coordinator.settings import get_settings
from tests import dbtools


async def _province(db: Database, members: int) -> int:
    root = await orgs.create_organization(db, None, name="Tỉnh", kind="province", parent_id=None)
    assert root.id is not None
    units = []
    for n in range(100):
        unit = await orgs.create_organization(
            db, None, name=f"Đơn vị {n}", kind="commune", parent_id=root.id
        )
        units.append(unit.id)
    rows = [
        {
            "organization_id": units[n % 100],
            "display_name": f"Đoàn viên {n}",
            "telegram_user_id": 10_000_000 + n,
            "locale": "vi",
            "created_at": utcnow(),
        }
        for n in range(members)
    ]
    async with db.write() as session:
        for start in range(0, members, 10_000):
            await session.execute(insert(Member), rows[start : start + 10_000])
    return root.id


async def _campaign(db: Database, agreement: int, root: int, share: int | None) -> int:
    now = utcnow()
    campaign = await campaigns.create_campaign(
        db,
        SYSTEM,
        campaigns.CampaignDraft(
            agreement_id=agreement,
            title="Bench",
            launch_at=now,
            deadline_at=now + timedelta(days=3),
            ask_share_percent=share,
        ),
    )
    assert campaign.id is not None
    await campaigns.add_content_item(
        db,
        SYSTEM,
        campaign.id,
        url="https://facebook.com/tinh/posts/1",
        kind="post",
        actions=["share"],
    )
    await campaigns.set_targets(db, SYSTEM, campaign.id, organization_ids=[root], club_ids=[])
    return campaign.id


async def _held(db: Database, campaign_id: int) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(select(func.count()).where(HeldTask.campaign_id == campaign_id))
            or 0
        )


def _backend_cpu_ms(conn: Any) -> int:
    """CPU (user + system) of this connection's PostgreSQL backend so far; 0 if not local."""
    if "backend" not in conn.info:
        cursor = conn.connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        conn.info["backend"] = cursor.fetchone()[0]
        cursor.close()
    try:
        stat = Path(f"/proc/{conn.info['backend']}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return (int(stat[11]) + int(stat[12])) * 1000 // os.sysconf("SC_CLK_TCK")


Span = tuple[float, int, str]


def _statement_clock(db: Database) -> tuple[list[Span], Callable[[], list[Span]]]:
    """(wall s, backend CPU ms, statement) of every statement until the returned stop()."""
    spans: list[Span] = []

    def before(conn: Any, *_: Any) -> None:
        conn.info["clock"] = (time.perf_counter(), _backend_cpu_ms(conn))

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        wall, cpu = conn.info.pop("clock")
        took = time.perf_counter() - wall
        spans.append((took, _backend_cpu_ms(conn) - cpu, " ".join(statement.split())[:70]))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def stop() -> list[Span]:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        return spans

    return spans, stop


async def run(
    url: str,
    members: int,
    analyze: bool = False,
    cap: int | None = None,
    share: int | None = None,
    statements: bool = False,
    top_ups: int = 0,
) -> None:
    db = Database(url)
    try:
        root = await _province(db, members)
        if analyze:
            await _analyze(db)
        agreement = await agreements.create_agreement(
            db,
            None,
            title="Quy chế",
            lead_organization_id=root,
            party_ids=[],
            signed_on=date(2026, 1, 1),
            valid_from=date(2026, 1, 1),
            valid_until=date(2030, 1, 1),
        )
        await agreements.create_channel(
            db,
            None,
            organization_id=root,
            platform="facebook",
            url="https://facebook.com/tinh",
            name="Trang",
        )
        campaign = await _campaign(db, agreement.id or 0, root, share)
        clock = _statement_clock(db) if statements and db.dialect == "postgresql" else None
        cpu = time.process_time()
        started = time.perf_counter()
        result = await campaigns.launch_campaign(db, SYSTEM, campaign)
        first = time.perf_counter() - started
        first_cpu = time.process_time() - cpu  # SQLite: the database's work too; steadier
        spans = clock[1]() if clock is not None else []
        started = time.perf_counter()
        again = await campaigns.launch_campaign(db, SYSTEM, campaign)
        second = time.perf_counter() - started
        print(f"database       {db.dialect}")
        print(f"members        {members}, weekly cap {cap}, share {share}")
        print(
            f"launch         {first:.2f} s ({first_cpu:.2f} s CPU in this process), "
            f"{result.created} assignments, {await _cards(db)} task cards queued, "
            f"{await _waiting(db)} left to the senders (load {_load()})"
        )
        print(f"relaunch       {second:.2f} s, {again.created} new")
        _print_statements(spans)
        await _time_top_ups(db, top_ups)
        if cap is not None:
            other = await _campaign(db, agreement.id or 0, root, share)
            started = time.perf_counter()
            result = await campaigns.launch_campaign(db, SYSTEM, other)
            took = time.perf_counter() - started
            held = await _held(db, other)
            print(f"second launch  {took:.2f} s, {result.created} assignments, {held} held back")
    finally:
        await db.dispose()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def _cards(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def _waiting(db: Database) -> int:
    async with db.read() as session:
        return (await backlog.waiting(session))[0]


async def _time_top_ups(db: Database, chunks: int) -> None:
    """What the senders pay for the cards a launch left them: `chunks` top-ups, each in its
    own transaction as a lease runs it (wall time with the commit; backend CPU on PostgreSQL)."""
    for n in range(chunks):
        clock = _statement_clock(db) if db.dialect == "postgresql" else None
        cpu, started = time.process_time(), time.perf_counter()
        async with db.write() as session:
            queued = await backlog.top_up(session)
        took, used = time.perf_counter() - started, time.process_time() - cpu
        backend = sum(c for _, c, _ in clock[1]()) if clock is not None else 0
        if not queued:
            return
        print(
            f"top-up {n + 1:<7} {took * 1000:.0f} ms, {queued} cards, "
            f"{backend} ms backend CPU, {used * 1000:.0f} ms CPU here (load {_load()})"
        )


def _print_statements(spans: list[Span]) -> None:
    if not spans:
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = sum(c for _, c, _ in spans)
    print(f"statements     {len(spans)}, backend CPU {cpu} ms together (load {load})")
    for took, used, statement in sorted(spans, reverse=True)[:3]:
        print(f"  {took * 1000:8.1f} ms wall {used:6d} ms backend CPU  {statement}")


async def _analyze(db: Database) -> None:
    """Statistics as autovacuum leaves them on a fresh database: members counted, tasks empty."""
    if db.dialect != "postgresql":
        return
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE before the first launch")
    parser.add_argument("--cap", type=int, help="the deployment's weekly cap per volunteer")
    parser.add_argument("--share", type=int, help="percent of each organization to ask")
    parser.add_argument("--statements", action="store_true", help="time the first launch's SQL")
    parser.add_argument(
        "--top-ups", type=int, default=3, help="time this many of the senders' card top-ups"
    )
    args = parser.parse_args()
    if args.cap is not None:
        os.environ["COORDINATOR_WEEKLY_TASK_CAP"] = str(args.cap)
        get_settings.cache_clear()
    fair = {
        "cap": args.cap,
        "share": args.share,
        "statements": args.statements,
        "top_ups": args.top_ups,
    }
    python = platform.python_version()
    print(f"machine        {platform.platform()}, {os.cpu_count()} cpus, Python {python}")
    if args.postgres:
        url = asyncio.run(
            dbtools.create_pg_database(args.postgres, f"coord_bench_{uuid.uuid4().hex[:8]}")
        )
        try:
            dbtools.upgrade(url)
            asyncio.run(run(url, args.members, args.analyze, **fair))
        finally:
            asyncio.run(dbtools.drop_pg_database(url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        dbtools.upgrade(url)
        asyncio.run(run(url, args.members, args.analyze, **fair))


if __name__ == "__main__":
    main()
