"""Benchmark: fair load's two reads over a long ask history, with and without an index.

    .venv/bin/python -m bench.fairload --members 200000 --weeks 20          # the weekly cap's load
    .venv/bin/python -m bench.fairload --members 200000 --weeks 10 --share  # the share's turns

PostgreSQL only (a scratch database on COORDINATOR_TEST_POSTGRES_URL's server, dropped after).
Builds the members as bench.launch does, then `--weeks` past campaigns, one a week, each asked
30 % of the members (synthetic rows), and EXPLAIN (ANALYZE, BUFFERS) one pass of the new
campaign's statement: `fairload._this_week` under a weekly cap of 3, or `fairload._turns` with
a 20 % share. Each round drops and creates the index (`--index`, default the created_at index
of revision 0024) so without/with alternate in the same minutes; the load average is printed
with each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql

from bench.launch import _campaign, _province
from coordinator.base import utcnow
from coordinator.campaigns import fairload
from coordinator.campaigns.launch import eligible_members
from coordinator.campaigns.models import Assignment
from coordinator.clock import zone
from coordinator.db import Database
from coordinator.organizations import agreements
from coordinator.organizations.models import Member
from coordinator.organizations.tree import subtree_ids
from tests import dbtools

INDEX = "ix_assignment_created_at"


async def build(url: str, members: int, weeks: int) -> tuple[int, int]:
    db = Database(url)
    root = await _province(db, members)
    agreement = await agreements.create_agreement(
        db,
        None,
        title="Q",
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
        name="T",
    )
    ids = [await _campaign(db, agreement.id or 0, root, 30) for _ in range(weeks + 1)]
    async with db.engine.begin() as conn:
        for n, campaign in enumerate(ids[:-1]):
            await conn.exec_driver_sql(
                "INSERT INTO assignment (campaign_id, member_id, status, created_at) "
                f"SELECT {campaign}, id, 'done', now() - interval '{(weeks - n) * 7 - 3} days' "
                f"FROM member WHERE (id * 7 + {n} * 13) % 10 < 3"
            )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")
    await db.dispose()
    return root, ids[-1]


def statement(orgs: set[int], campaign: int, share: bool) -> Any:
    week = fairload.week_of(utcnow(), zone())
    if share:
        return fairload._turns(
            fairload.Rule(campaign, 20, None, False, week), eligible_members(orgs, set())
        )
    rule = fairload.Rule(campaign, None, 3, False, week)
    return fairload.under_cap(select(Member.id), rule).where(*eligible_members(orgs, set()))


async def explain(url: str, root: int, campaign: int, share: bool, index: str, rounds: int) -> None:
    db = Database(url)
    async with db.read() as session:
        orgs = set(await subtree_ids(session, [root]))
        rows = await session.scalar(select(func.count()).select_from(Assignment))
    print(f"assignments    {rows} in the history")
    compiled = statement(orgs, campaign, share).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    figures: dict[str, list[float]] = {"without": [], "with": []}
    for n in range(rounds):
        for label in ("without", "with"):
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX}")
                if label == "with":
                    await conn.exec_driver_sql(index)
                await conn.exec_driver_sql("ANALYZE assignment")
            async with db.engine.connect() as conn:
                plan = "\n".join(
                    r[0]
                    for r in await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")
                )
            ms = float(re.findall(r"Execution Time: ([\d.]+)", plan)[0])
            figures[label].append(ms)
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"round {n} {label:7} index {ms:9.1f} ms   (load {load})")
            if n == 0:
                print(plan)
    for label, values in figures.items():
        print(f"{label:7} index: median {sorted(values)[len(values) // 2]:.1f} ms of {values}")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--weeks", type=int, default=20, help="past campaigns, one a week")
    parser.add_argument("--share", action="store_true", help="the share's turns, not the cap")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--index", default=f"CREATE INDEX {INDEX} ON assignment (created_at)")
    args = parser.parse_args()
    base = os.environ.get(
        "COORDINATOR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    url = asyncio.run(dbtools.create_pg_database(base, f"coord_bench_{uuid.uuid4().hex[:8]}"))
    try:
        dbtools.upgrade(url)
        root, campaign = asyncio.run(build(url, args.members, args.weeks))
        asyncio.run(explain(url, root, campaign, args.share, args.index, args.rounds))
    finally:
        asyncio.run(dbtools.drop_pg_database(url))


if __name__ == "__main__":
    main()
