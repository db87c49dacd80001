"""Benchmark of delivery through organizations (issue 14), on the province of `bench.scale`
grown to 1,000 communes with 100,000 members and a focal point each:

  cascade launch to 1,000 organizations (their tasks and cards queued)   target <= 2 s
  one pass-on to an organization's 5,000 members (assignments + cards)   target <= 1 s

    .venv/bin/python -m bench.cascade                                    # SQLite in a temp dir
    .venv/bin/python -m bench.cascade --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.cascade --organizations 200 --members 20000   # a quick run

On PostgreSQL a scratch database is created and dropped. Prints the figures and the machine's
conditions (load average before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text

from coordinator.auth.models import User
from coordinator.auth.scope import SYSTEM, actor_for
from coordinator.base import utcnow
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, OrganizationTask
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations import service as orgs
from coordinator.organizations.models import FocalPoint, Member, Organization
from tests import dbtools

from .scale import generate, say

BIG = 5_000  # the members of the one organization whose pass-on is timed
DISTRICTS = 20


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cpus)"


async def grow(db: Database, organizations: int, members: int) -> tuple[list[int], int, int]:
    """The targets (`organizations` communes, the last one with BIG members of its own), their
    focal points (one linked lead each), and the agreement; (targets, big one, agreement)."""
    ids = await generate(
        db, members - BIG, 1_000, 30, DISTRICTS, -(-(organizations - 1) // DISTRICTS)
    )
    async with db.read() as session:
        communes = list(
            await session.scalars(
                select(Organization.id)
                .where(Organization.kind == "commune")
                .order_by(Organization.id)
                .limit(organizations - 1)
            )
        )
        district = await session.scalar(
            select(Organization.id).where(Organization.kind == "district").limit(1)
        )
    big = await orgs.create_organization(
        db, None, name="Đoàn phường lớn", kind="commune", parent_id=district
    )
    assert big.id is not None
    targets = [*communes, big.id]
    now = utcnow()
    async with db.write() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": big.id,
                    "display_name": f"Đoàn viên lớn {n:05d}",
                    "telegram_user_id": 20_000_000 + n,
                    "locale": "vi",
                    "created_at": now,
                }
                for n in range(BIG)
            ],
        )
        admin = await session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        # One focal point per target, written set-based: a password hash each would take minutes.
        await session.execute(
            insert(User),
            [
                {
                    "username": f"daumoi-{org}",
                    "password_hash": admin.password_hash,
                    "role": "lead",
                    "organization_id": org,
                    "locale": "vi",
                    "telegram_user_id": 30_000_000 + org,
                    "active": True,
                    "created_at": now,
                }
                for org in targets
            ],
        )
        await session.execute(
            text(
                "INSERT INTO focal_point (organization_id, user_id, created_at) "
                'SELECT organization_id, id, created_at FROM "user" '
                "WHERE username LIKE 'daumoi-%'"
            )
        )
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    return targets, big.id, ids["agreement"]


async def measure(
    db: Database, targets: list[int], big: int, agreement: int, profile: bool
) -> None:
    now = utcnow()
    campaign = await campaigns.create_campaign(
        db,
        SYSTEM,
        campaigns.CampaignDraft(
            agreement_id=agreement,
            title="Qua các tổ chức",
            brief="Chia sẻ bài viết cảnh báo lừa đảo.",
            launch_at=now,
            deadline_at=now + timedelta(days=3),
            delivery_mode="org",
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
    await campaigns.set_targets(db, SYSTEM, campaign.id, organization_ids=targets, club_ids=[])
    say("load before", load())
    with statement_times(db, profile) as spent:
        started = time.perf_counter()
        result = await campaigns.launch_campaign(db, SYSTEM, campaign.id)
        took = time.perf_counter() - started
    show(spent)
    async with db.read() as session:
        cards = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("orgtask:%"))  # type: ignore[attr-defined]
        )
        task_id = await session.scalar(
            select(OrganizationTask.id).where(
                OrganizationTask.campaign_id == campaign.id, OrganizationTask.organization_id == big
            )
        )
        focal = await session.scalar(
            select(User)
            .join(FocalPoint, FocalPoint.user_id == User.id)
            .where(FocalPoint.organization_id == big)
        )
        assert focal is not None and task_id is not None
        actor = await actor_for(session, focal)
    say(
        "cascade launch, all tasks queued",
        f"{took:.2f} s ({result.created:,} organization tasks, {cards:,} cards; target <= 2 s)",
    )
    with statement_times(db, profile) as spent:
        started = time.perf_counter()
        outcome = await cascade_service.act(db, actor, task_id, "members")
        took = time.perf_counter() - started
    show(spent)
    async with db.read() as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .join(Assignment, Assignment.id == OutboxMessage.assignment_id)
            .where(Assignment.campaign_id == campaign.id)
        )
    say(
        "one pass-on to the members",
        f"{took:.2f} s ({outcome.created:,} assignments, {queued:,} cards; target <= 1 s)",
    )
    say("load after", load())


@contextmanager
def statement_times(db: Database, on: bool) -> Iterator[dict[str, list[float]]]:
    """With `on`: the seconds each SQL statement took (its first line), to find the slow one."""
    spent: dict[str, list[float]] = {}
    if not on:
        yield spent
        return
    engine = db.engine.sync_engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        key = " ".join(statement.split())[:110]
        spent.setdefault(key, []).append(time.perf_counter() - conn.info["bench_started"])

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def show(spent: dict[str, list[float]]) -> None:
    ranked = sorted(spent.items(), key=lambda kv: -sum(kv[1]))
    for statement, times in ranked[:8]:
        print(f"    {sum(times):6.3f} s  x{len(times):<4} {statement}", flush=True)


async def run(url: str, organizations: int, members: int, profile: bool = False) -> None:
    db = Database(url)
    try:
        targets, big, agreement = await grow(db, organizations, members)
        await measure(db, targets, big, agreement, profile)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--organizations", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    parser.add_argument("--profile", action="store_true", help="print the slowest SQL statements")
    args = parser.parse_args()
    say(
        "machine",
        f"{platform.platform()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = asyncio.run(
                dbtools.create_pg_database(args.postgres, f"coord_cascade_{uuid.uuid4().hex[:8]}")
            )
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'cascade.db'}"
        say("database", url.split("@")[-1] if args.postgres else "SQLite (WAL) in a temp dir")
        try:
            dbtools.upgrade(url)
            asyncio.run(run(url, args.organizations, args.members, args.profile))
        finally:
            if args.postgres:
                asyncio.run(dbtools.drop_pg_database(url))


if __name__ == "__main__":
    main()
