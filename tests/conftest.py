"""Shared fixtures: a migrated database per test on SQLite or PostgreSQL, and a small world.

COORDINATOR_TEST_DB=postgres runs the suite on the server in COORDINATOR_TEST_POSTGRES_URL;
if that server cannot be reached the run fails rather than skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="coordinator-tests-"))
os.environ.setdefault("COORDINATOR_SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ["COORDINATOR_VAR_DIR"] = str(_TMP / "var")
os.environ.pop("COORDINATOR_DATABASE_URL", None)
os.environ.setdefault("COORDINATOR_MFA_ADMINS", "optional")  # tests/auth/test_mfa.py turns it on
# The test clients' own host name, besides the loopback names served by default.
os.environ.setdefault("COORDINATOR_ALLOWED_HOSTS", "testserver.local,127.0.0.1,localhost")
os.environ["PTB_TIMEDELTA"] = "1"  # python-telegram-bot 22: durations as timedelta, as in 23

from coordinator.db import Database  # noqa: E402
from coordinator.tallies.cache import PROGRESS, TALLIES  # noqa: E402
from tests import dbtools  # noqa: E402

BACKEND = os.environ.get("COORDINATOR_TEST_DB", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise pytest.UsageError("COORDINATOR_TEST_DB must be sqlite or postgres")


def pytest_report_header(config: pytest.Config) -> str:
    return f"coordinator database backend: {BACKEND}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Said even with -q, so that CI can tell which database a run used."""
    terminalreporter.write_line(f"coordinator database backend: {BACKEND}")


@pytest.fixture(scope="session")
def template_url() -> Iterator[str]:
    """A database migrated to head once per session (a file for SQLite, a database for PG)."""
    if BACKEND == "sqlite":
        path = _TMP / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
        dbtools.upgrade(url)
        yield url
        shutil.rmtree(_TMP, ignore_errors=True)
        return
    base = os.environ.get("COORDINATOR_TEST_POSTGRES_URL")
    if not base:
        pytest.exit(
            "COORDINATOR_TEST_DB=postgres needs COORDINATOR_TEST_POSTGRES_URL", returncode=3
        )
    url = asyncio.run(dbtools.create_pg_database(base, f"coord_test_{uuid.uuid4().hex[:10]}"))
    dbtools.upgrade(url)
    yield url
    asyncio.run(dbtools.drop_pg_database(url))


async def open_database(template_url: str, directory: Path) -> Database:
    """A clean, migrated database: a copy of the template file, or the PG database emptied."""
    if BACKEND == "sqlite":
        path = directory / f"test-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(template_url.removeprefix("sqlite+aiosqlite:///"), path)
        return Database(f"sqlite+aiosqlite:///{path}")
    await dbtools.truncate_all(template_url)
    # The in-process tally caches key by database URL and ids; on PostgreSQL every test reuses
    # the one emptied database, so an entry of the test before could answer for this one.
    TALLIES.clear()
    PROGRESS.clear()
    return Database(template_url)


@pytest.fixture
async def db(template_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A clean, migrated database for one test."""
    database = await open_database(template_url, tmp_path)
    yield database
    await database.dispose()


@pytest.fixture
async def world(db: Database):  # type: ignore[no-untyped-def]
    from tests.factories import build_world

    return await build_world(db)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id still, with tiny cost parameters: the suite builds many users."""
    from argon2 import PasswordHasher

    from coordinator.auth import passwords

    real = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = real


@pytest.fixture
async def api(world):  # type: ignore[no-untyped-def]
    """An HTTP client for the app on this test's database, and a bearer token per persona."""
    from litestar.testing import AsyncTestClient

    from tests.factories import api_client

    async with api_client(world) as client:
        assert isinstance(client, AsyncTestClient)
        yield client
