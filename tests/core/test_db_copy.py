"""`coordinator db copy`: a populated SQLite deployment moves into an empty PostgreSQL database.

Needs both databases whatever COORDINATOR_TEST_DB says: the source is always a SQLite file,
the target a fresh database on the server in COORDINATOR_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.db import Database
from coordinator.models import metadata
from coordinator.organizations import service as orgs
from tests import dbtools
from tests.conftest import BACKEND
from tests.factories import build_world

PG_BASE = os.environ.get("COORDINATOR_TEST_POSTGRES_URL", "")


def _reachable(base: str) -> str | None:
    try:
        name = f"coord_copy_{uuid.uuid4().hex[:10]}"
        return asyncio.run(dbtools.create_pg_database(base, name))
    except RuntimeError:
        if BACKEND == "postgres":
            raise  # the PostgreSQL pass must not skip
        return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no schema: the command migrates it)."""
    if not PG_BASE:
        pytest.skip("needs COORDINATOR_TEST_POSTGRES_URL (the copy's target is PostgreSQL)")
    url = _reachable(PG_BASE)
    if url is None:
        pytest.skip(f"PostgreSQL at {PG_BASE} is not reachable")
    yield url
    asyncio.run(dbtools.drop_pg_database(url))


async def _populate(url: str) -> None:
    """The personas' world, a launched campaign, reports of every kind, and their audit trail."""
    db = Database(url)
    try:
        world = await build_world(db)
        cid = await world.campaign(items=2, targets=("province",))
        await campaigns.launch_campaign(db, world.actor["coordinator"], cid)
        async with db.read() as session:
            tasks = (await session.scalars(select(Assignment).order_by(Assignment.id))).all()
        items = await _content_items(db, cid)
        for n, task in enumerate(tasks):
            assert task.member_id is not None
            await record_report(db, ReportRequest(task.id, task.member_id, "acknowledged"))
            if n % 2 == 0:
                await record_report(
                    db, ReportRequest(task.id, task.member_id, "share", content_item_id=items[0])
                )
                await record_report(db, ReportRequest(task.id, task.member_id, "done"))
        # A parent created after its child: the copy must not insert in id order blindly.
        late = await orgs.create_organization(
            db, None, name="Thành đoàn", kind="province", parent_id=None
        )
        assert late.id is not None
        await orgs.update_organization(
            db, world.actor["admin"], world.org["outsider"], name=None, parent_id=late.id, move=True
        )
    finally:
        await db.dispose()


async def _content_items(db: Database, campaign_id: int) -> list[int]:
    async with db.read() as session:
        rows = await session.execute(
            text("SELECT id FROM content_item WHERE campaign_id = :c ORDER BY id"),
            {"c": campaign_id},
        )
        return [row[0] for row in rows]


async def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table as Python values, in primary-key order (sorted in Python, since
    the two databases order text differently)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            dump = {}
            for table in metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                keys = [table.c.keys().index(c.name) for c in table.primary_key.columns]
                dump[table.name] = sorted(
                    (tuple(row) for row in rows), key=lambda r: [r[k] for k in keys]
                )
            dump["alembic_version"] = [
                tuple(r)
                for r in await conn.execute(text("SELECT version_num FROM alembic_version"))
            ]
            return dump
    finally:
        await db.dispose()


def _copy(source: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "db", "copy", *args],
        env={**os.environ, "COORDINATOR_DATABASE_URL": source},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/province.db"
    dbtools.upgrade(url)
    asyncio.run(_populate(url))
    return url


def test_it_copies_every_row_of_every_table(sqlite_url, pg_url):
    result = _copy(sqlite_url, "--to", pg_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "counts and tallies equal" in result.stdout
    assert "audit_event" in result.stdout and "DIFFERENT" not in result.stdout
    source, target = asyncio.run(_dump(sqlite_url)), asyncio.run(_dump(pg_url))
    assert source["report"] and source["audit_event"] and source["outbox_message"]
    for name in source:
        assert target[name] == source[name], f"{name} differs after the copy"


def test_it_refuses_a_target_that_has_rows(sqlite_url, pg_url):
    assert _copy(sqlite_url, "--to", pg_url).returncode == 0
    before = asyncio.run(_dump(pg_url))

    again = _copy(sqlite_url, "--to", pg_url)

    assert again.returncode == 2
    assert "the target database is not empty" in again.stderr
    assert "organization" in again.stderr
    assert asyncio.run(_dump(pg_url)) == before


def test_it_refuses_a_source_that_is_not_a_database(tmp_path, pg_url):
    missing = _copy(f"sqlite+aiosqlite:///{tmp_path}/nothing.db", "--to", pg_url)
    assert missing.returncode == 2
    assert "no SQLite database at" in missing.stderr
    assert not (tmp_path / "nothing.db").exists()  # looking did not create it

    to_sqlite = _copy(f"sqlite+aiosqlite:///{tmp_path}/x.db", "--to", "sqlite+aiosqlite:///y.db")
    assert to_sqlite.returncode == 2
    assert "--to must be a PostgreSQL URL" in to_sqlite.stderr


def test_the_app_works_on_the_copy(sqlite_url, pg_url):
    assert _copy(sqlite_url, "--to", pg_url).returncode == 0

    async def work() -> tuple[int, int, int]:
        db = Database(pg_url)
        try:
            async with db.read() as session:
                highest = await session.scalar(text("SELECT max(id) FROM organization"))
                audits = await session.scalar(text("SELECT count(*) FROM audit_event"))
            org = await orgs.create_organization(
                db, None, name="Đoàn phường mới", kind="commune", parent_id=None
            )
            assert org.id is not None
            async with db.read() as session:
                audits_after = await session.scalar(
                    select(func.count()).select_from(metadata.tables["audit_event"])
                )
            return org.id - int(highest), int(audits), int(audits_after or 0)
        finally:
            await db.dispose()

    step, audits, audits_after = asyncio.run(work())
    assert step == 1  # the sequence continues after the copied ids
    assert audits_after == audits + 1  # and the audit log keeps growing on the copy
