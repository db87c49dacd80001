"""The `coordinator` command, run as a user runs it: a real process on a real database."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbtools
from tests.conftest import BACKEND


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test, for the CLI to set up itself."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/cli.db"
        return
    base = os.environ["COORDINATOR_TEST_POSTGRES_URL"]
    created = asyncio.run(dbtools.create_pg_database(base, f"coord_cli_{uuid.uuid4().hex[:10]}"))
    yield created
    asyncio.run(dbtools.drop_pg_database(created))


def _cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COORDINATOR_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _create_user(url: str, password: str, role: str = "admin") -> subprocess.CompletedProcess[str]:
    return _cli(
        url,
        "users",
        "create",
        "--username",
        "chi",
        "--role",
        role,
        "--organization",
        "1",
        "--password-stdin",
        stdin=password + "\n",
    )


def test_it_explains_itself(url):
    r = _cli(url, "--help")
    assert r.returncode == 0
    for command in ("serve", "db", "users", "tokens", "demo", "orgs"):
        assert command in r.stdout


def test_it_sets_up_a_database_a_user_and_a_token(url):
    assert _cli(url, "db", "upgrade").returncode == 0
    assert "(head)" in _cli(url, "db", "current").stdout
    org = _cli(url, "orgs", "create", "--name", "Tỉnh đoàn")
    assert org.returncode == 0 and "organization 1" in org.stdout
    user = _create_user(url, "a long password here")
    assert user.returncode == 0, user.stderr
    token = _cli(url, "tokens", "create", "--username", "chi", "--name", "script")
    assert token.stdout.startswith("coord_")


def test_it_refuses_bad_arguments_clearly_and_writes_nothing(url):
    _cli(url, "db", "upgrade")
    _cli(url, "orgs", "create", "--name", "Tỉnh đoàn")
    weak = _create_user(url, "short")
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr
    role = _create_user(url, "a long password here", role="king")
    assert role.returncode == 2 and "'king' is not one of" in role.stderr
    missing = _cli(url, "tokens", "create", "--username", "chi", "--name", "x")
    assert missing.returncode == 2 and "no user named 'chi'" in missing.stderr
    bad_setting = subprocess.run(
        [sys.executable, "-m", "coordinator", "db", "current"],
        capture_output=True,
        text=True,
        env={**os.environ, "COORDINATOR_LOCALE": "fr"},
        check=False,
    )
    assert bad_setting.returncode == 2 and "LOCALE must be one of" in bad_setting.stderr


def test_it_loads_the_demo_once(url):
    _cli(url, "db", "upgrade")
    first = _cli(url, "demo", "--members", "120")
    assert first.returncode == 0, first.stderr
    assert "120 members" in first.stdout and "demo-password-2026" in first.stdout
    assert "loaded already" in _cli(url, "demo", "--if-empty").stdout
    again = _cli(url, "demo")
    assert again.returncode == 2 and "empty database" in again.stderr


def test_it_recounts_the_tally_summary_and_reports_drift(url):
    from sqlalchemy import text

    from coordinator.db import Database

    _cli(url, "db", "upgrade")
    assert _cli(url, "demo", "--members", "120").returncode == 0
    clean = _cli(url, "tallies", "recount")
    assert clean.returncode == 0 and "no drift" in clean.stdout, clean.stderr

    async def corrupt() -> None:
        db = Database(url)
        try:
            async with db.write() as session:
                await session.execute(
                    text("UPDATE tally_summary SET done = done + 2 WHERE club_id = 0")
                )
        finally:
            await db.dispose()

    asyncio.run(corrupt())
    drifted = _cli(url, "tallies", "recount")
    assert drifted.returncode == 1, drifted.stderr
    assert "drift repaired: campaign" in drifted.stdout and "done -2" in drifted.stdout
    assert "no drift" in _cli(url, "tallies", "recount").stdout
