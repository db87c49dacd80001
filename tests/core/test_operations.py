"""Operations as an operator runs them: backups, restores, file modes, the two database roles."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests import dbtools
from tests.conftest import BACKEND

PG_BASE = os.environ.get("COORDINATOR_TEST_POSTGRES_URL", "")


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/ops.db"
        return
    created = asyncio.run(dbtools.create_pg_database(PG_BASE, f"coord_ops_{uuid.uuid4().hex[:10]}"))
    yield created
    asyncio.run(dbtools.drop_pg_database(created))


def _cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        env={**os.environ, "COORDINATOR_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _organizations(url: str) -> list[str]:
    return asyncio.run(_names(url))


async def _names(url: str) -> list[str]:
    from sqlalchemy import text

    from coordinator.db import Database

    db = Database(url)
    try:
        async with db.read() as session:
            rows = await session.execute(text("SELECT name FROM organization ORDER BY id"))
            return [row[0] for row in rows]
    finally:
        await db.dispose()


def test_it_restores_exactly_what_was_backed_up(url, tmp_path):
    _ok(_cli(url, "db", "upgrade"))
    _ok(_cli(url, "orgs", "create", "--name", "Tỉnh đoàn", "--kind", "province"))
    backup = tmp_path / "coordinator.backup"
    assert "Backup written" in _ok(_cli(url, "backup", str(backup)))
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))

    _ok(_cli(url, "orgs", "create", "--name", "Added after the backup", "--kind", "district"))
    assert len(_organizations(url)) == 2
    _ok(_cli(url, "restore", "--yes", str(backup)))
    assert _organizations(url) == ["Tỉnh đoàn"]
    # The restored database is usable, not just readable.
    _ok(_cli(url, "orgs", "create", "--name", "After the restore", "--kind", "district"))
    assert len(_organizations(url)) == 2


def test_it_refuses_to_restore_a_file_that_is_not_a_backup(url, tmp_path):
    _ok(_cli(url, "db", "upgrade"))
    _ok(_cli(url, "orgs", "create", "--name", "Tỉnh đoàn", "--kind", "province"))
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database" * 100)
    result = _cli(url, "restore", "--yes", str(junk))
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert _organizations(url) == ["Tỉnh đoàn"]


def test_it_asks_before_a_restore_replaces_everything(url, tmp_path):
    _ok(_cli(url, "db", "upgrade"))
    backup = tmp_path / "b.backup"
    _ok(_cli(url, "backup", str(backup)))
    _ok(_cli(url, "orgs", "create", "--name", "Kept", "--kind", "province"))
    refused = _cli(url, "restore", str(backup))  # no --yes, no answer on stdin
    assert refused.returncode != 0
    assert _organizations(url) == ["Kept"]


@pytest.mark.skipif(BACKEND != "sqlite", reason="file modes are SQLite's")
def test_it_creates_the_sqlite_files_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "var" / "fresh.db"
    _ok(_cli(f"sqlite+aiosqlite:///{path}", "db", "upgrade"))
    import sqlite3

    writer = sqlite3.connect(path)  # keeps the -wal and -shm files open while we look
    writer.execute("CREATE TABLE scratch (x)")
    writer.execute("INSERT INTO scratch VALUES (1)")
    writer.commit()
    try:
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in path.parent.iterdir()
            if p.name.startswith("fresh.db")
        }
    finally:
        writer.close()
    assert {"fresh.db", "fresh.db-wal", "fresh.db-shm"} <= set(modes)
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


@pytest.fixture
def two_roles() -> Iterator[tuple[str, str]]:
    """A database owned by an owner role, and an application role: (owner url, app url)."""
    suffix = uuid.uuid4().hex[:8]
    owner, app, name = f"coord_owner_{suffix}", f"coord_app_{suffix}", f"coord_roles_{suffix}"

    async def setup() -> None:
        conn = await asyncpg.connect(dbtools._dsn(PG_BASE, "postgres"))
        try:
            await conn.execute(f'CREATE ROLE "{owner}" LOGIN')
            await conn.execute(f'CREATE ROLE "{app}" LOGIN')
            await conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        finally:
            await conn.close()

    async def teardown() -> None:
        conn = await asyncpg.connect(dbtools._dsn(PG_BASE, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'DROP ROLE IF EXISTS "{app}"')
            await conn.execute(f'DROP ROLE IF EXISTS "{owner}"')
        finally:
            await conn.close()

    from sqlalchemy.engine import make_url

    asyncio.run(setup())
    base = make_url(PG_BASE).set(database=name)
    urls = tuple(base.set(username=role).render_as_string(False) for role in (owner, app))
    try:
        yield urls[0], urls[1]
    finally:
        asyncio.run(teardown())


@pytest.mark.skipif(BACKEND != "postgres", reason="roles are PostgreSQL's")
def test_it_keeps_the_audit_log_append_only_for_the_application_role(two_roles):
    owner_url, app_url = two_roles
    out = _ok(_cli(app_url, "db", "upgrade", COORDINATOR_MIGRATION_DATABASE_URL=owner_url))
    assert "Granted the application role" in out
    # The application works as its own role: it creates an organization (audited).
    _ok(_cli(app_url, "orgs", "create", "--name", "Tỉnh đoàn", "--kind", "province"))

    async def as_app() -> dict[str, str]:
        conn = await asyncpg.connect(dbtools._dsn(app_url))
        outcomes: dict[str, str] = {}
        try:
            await conn.execute(
                "INSERT INTO audit_event (action, object_type, detail, at) "
                "VALUES ('test.insert', '', '{}', now())"
            )
            assert await conn.fetchval("SELECT count(*) FROM audit_event") >= 1
            for name, sql in {
                "update": "UPDATE audit_event SET action = 'forged'",
                "delete": "DELETE FROM audit_event",
                "truncate": "TRUNCATE audit_event",
                "disable trigger": "ALTER TABLE audit_event DISABLE TRIGGER ALL",
                "drop": "DROP TABLE audit_event",
            }.items():
                try:
                    await conn.execute(sql)
                    outcomes[name] = "allowed"
                except asyncpg.PostgresError as exc:
                    outcomes[name] = type(exc).__name__
        finally:
            await conn.close()
        return outcomes

    outcomes = asyncio.run(as_app())
    assert "allowed" not in outcomes.values(), outcomes
    assert outcomes["update"] == "InsufficientPrivilegeError"
    assert outcomes["truncate"] == "InsufficientPrivilegeError"


@pytest.mark.skipif(BACKEND != "postgres", reason="roles are PostgreSQL's")
def test_a_restore_runs_as_the_owner_and_gives_the_application_role_its_rights_again(
    two_roles, tmp_path
):
    owner_url, app_url = two_roles
    owner = {"COORDINATOR_MIGRATION_DATABASE_URL": owner_url}
    _ok(_cli(app_url, "db", "upgrade", **owner))
    _ok(_cli(app_url, "orgs", "create", "--name", "Tỉnh đoàn", "--kind", "province"))
    backup = tmp_path / "roles.backup"
    _ok(_cli(app_url, "backup", str(backup), **owner))
    _ok(_cli(app_url, "orgs", "create", "--name", "After the backup", "--kind", "district"))
    assert "Granted the application role" in _ok(
        _cli(app_url, "restore", "--yes", str(backup), **owner)
    )
    assert _organizations(owner_url) == ["Tỉnh đoàn"]
    # The restored tables are the owner's, and the application role may use them again.
    _ok(_cli(app_url, "orgs", "create", "--name", "After the restore", "--kind", "district"))
    assert _organizations(app_url) == ["Tỉnh đoàn", "After the restore"]


@pytest.mark.skipif(BACKEND != "sqlite", reason="file modes are SQLite's")
def test_it_tightens_an_existing_world_readable_sqlite_file(tmp_path):
    path = tmp_path / "old.db"
    _ok(_cli(f"sqlite+aiosqlite:///{path}", "db", "upgrade"))
    path.chmod(0o644)
    _ok(_cli(f"sqlite+aiosqlite:///{path}", "db", "upgrade"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
