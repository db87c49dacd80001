"""The raw cause behind slow member inserts, in isolation: one transaction inserting N members
into one organization, as executemany (one statement per row, what SQLAlchemy sends for a list
of parameter sets without RETURNING), as multi-row INSERT ... VALUES (SQLAlchemy's
"insertmanyvalues", 1,000 rows a statement) and as one INSERT ... SELECT, each with the
member-count trigger in place and dropped (inside the transaction, which is rolled back).

    .venv/bin/python -m bench.member_raw --rows 10000
    .venv/bin/python -m bench.member_raw --rows 10000 --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.organizations import service as orgs
from coordinator.organizations.models import Member
from tests import dbtools

TIMEOUT = 120.0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def _rows(org: int, n: int, start: int = 0) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "organization_id": org,
            "display_name": f"Đoàn viên {i:07d}",
            "code": f"DV{i:07d}",
            "locale": "vi",
            "created_at": now,
        }
        for i in range(start, start + n)
    ]


async def executemany(session: AsyncSession, org: int, n: int) -> None:
    for start in range(0, n, 10_000):
        await session.execute(insert(Member), _rows(org, min(10_000, n - start), start))


async def many_values(session: AsyncSession, org: int, n: int) -> None:
    # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES statements.
    for start in range(0, n, 10_000):
        rows = _rows(org, min(10_000, n - start), start)
        (await session.execute(insert(Member).returning(Member.id), rows)).all()


async def insert_select(session: AsyncSession, org: int, n: int) -> None:
    series = (
        "SELECT n FROM generate_series(0, :n - 1) n"
        if session.get_bind().dialect.name == "postgresql"
        else "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < :n) "
        "SELECT n FROM s"
    )
    await session.execute(
        text(
            "INSERT INTO member (organization_id, display_name, code, locale, created_at) "
            "SELECT :org, 'Đoàn viên ' || n, 'DV' || n, 'vi', :now "
            f"FROM ({series}) s"
        ),
        {"org": org, "n": n, "now": utcnow()},
    )


WAYS: dict[str, Callable[[AsyncSession, int, int], Awaitable[None]]] = {
    "executemany (row by row)": executemany,
    "multi-row VALUES (1,000 a statement)": many_values,
    "one INSERT ... SELECT": insert_select,
}


async def _drop_trigger(session: AsyncSession) -> None:
    pg = session.get_bind().dialect.name == "postgresql"
    await session.execute(text("DROP TRIGGER member_tally_insert" + (" ON member" if pg else "")))


async def one(db: Database, org: int, n: int, way: str, trigger: bool) -> str:
    async with db._writer() as session:  # rolled back: every case starts from the same table
        await session.begin()
        try:
            if not trigger:
                await _drop_trigger(session)
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.wait_for(WAYS[way](session, org, n), TIMEOUT)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        except TimeoutError:
            return f"> {TIMEOUT:.0f} s (stopped)"
        finally:
            await session.rollback()
    return f"{wall:7.2f} s  {wall / n * 1e6:7.1f} µs/row  client CPU {cpu:6.2f} s"


async def run(url: str, rows: list[int]) -> None:
    db = Database(url)
    try:
        org = await orgs.create_organization(db, None, name="Xã", kind="commune", parent_id=None)
        assert org.id is not None
        for n in rows:
            for way in WAYS:
                for trigger in (True, False):
                    figure = await one(db, org.id, n, way, trigger)
                    label = f"{n:>7} rows  {way:<38} trigger {'on ' if trigger else 'off'}"
                    print(f"{label}  {figure}  {load()}", flush=True)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="10000,50000")
    parser.add_argument("--postgres")
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            name = f"coord_raw_{uuid.uuid4().hex[:8]}"
            url = asyncio.run(dbtools.create_pg_database(args.postgres, name))
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'raw.db'}"
        try:
            dbtools.upgrade(url)
            print(f"database {url.split('@')[-1]}  {os.cpu_count()} cpus  {load()}")
            asyncio.run(run(url, rows))
        finally:
            if args.postgres:
                asyncio.run(dbtools.drop_pg_database(url))


if __name__ == "__main__":
    main()
