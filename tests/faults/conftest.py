"""Fixtures for the fault tests: real processes around this test's database.

Each test gets its own `coordinator sandbox` process, starts its workers through `processes`,
and leaves nothing running: whatever is still alive is stopped when the test ends, and the
processes' logs are printed (pytest shows them when the test failed).

Run them alone with `.venv/bin/pytest -m faults` (add COORDINATOR_TEST_DB=postgres and
COORDINATOR_TEST_POSTGRES_URL for PostgreSQL); they are part of `make test` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from coordinator.db import Database
from tests.conftest import BACKEND
from tests.dbtools import _dsn
from tests.faults.crowd import Crowd, build_crowd
from tests.faults.harness import Processes, Sandbox, start_sandbox


@pytest.fixture
def processes(db: Database, tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path, db.url)
    try:
        yield running
    finally:
        running.stop_all()
        print(running.logs())


@pytest.fixture
async def sandbox(processes: Processes) -> AsyncIterator[Sandbox]:
    started = await start_sandbox(processes)
    yield started
    await started.close()


@pytest.fixture
async def crowd(db: Database, sandbox: Sandbox) -> Crowd:
    """2,000 linked volunteers, each with a sandbox account, and a draft campaign to them."""
    return await build_crowd(db, sandbox)


# -- a database that refuses writes --------------------------------------------------------
TABLE_WRITES = "INSERT, UPDATE, DELETE"


@contextlib.asynccontextmanager
async def app_role(url: str) -> AsyncIterator[str]:
    """PostgreSQL: a login role of our own with the application's rights on every table;
    yields the database URL that connects as it. Dropped (with its grants) afterwards."""
    role = f"coord_app_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_dsn(url))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        everything = "ALL TABLES IN SCHEMA public"
        await admin.execute(f'GRANT SELECT, {TABLE_WRITES} ON {everything} TO "{role}"')
        await admin.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        yield make_url(url).set(username=role).render_as_string(hide_password=False)
    finally:
        # A worker killed mid-test may still hold a session for a moment.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


@pytest.fixture
async def app_database(db: Database) -> AsyncIterator[tuple[str, str | None]]:
    """(URL, role) for the app's processes. PostgreSQL: a role of its own, whose rights a test
    can revoke; SQLite: the same file (a test locks it from another connection). Asked for
    before `processes`, it outlives them: the role is dropped once they have stopped."""
    if BACKEND != "postgres":
        yield db.url, None
        return
    async with app_role(db.url) as url:
        yield url, make_url(url).username


class WriteRefusal:
    """Switches a database's writes off and on again for everyone but the test itself."""

    def __init__(self, url: str, role: str | None) -> None:
        self.url, self.role = url, role
        self._lock: sqlite3.Connection | None = None

    async def refuse(self) -> None:
        if BACKEND == "postgres":
            await self._grant("REVOKE", "FROM")
            return
        path = self.url.removeprefix("sqlite+aiosqlite:///")
        # Another connection holding the write lock: every writer waits busy_timeout, then gets
        # "database is locked". (In WAL mode readers go on reading.)
        self._lock = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        await asyncio.to_thread(self._lock.execute, "BEGIN EXCLUSIVE")

    async def allow(self) -> None:
        if BACKEND == "postgres":
            await self._grant("GRANT", "TO")
            return
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None

    async def _grant(self, verb: str, preposition: str) -> None:
        conn = await asyncpg.connect(_dsn(self.url))
        try:
            await conn.execute(
                f'{verb} {TABLE_WRITES} ON ALL TABLES IN SCHEMA public {preposition} "{self.role}"'
            )
        finally:
            await conn.close()
