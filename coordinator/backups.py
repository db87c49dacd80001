"""Backups and restores: SQLite's online backup API; PostgreSQL through pg_dump / pg_restore.

A backup file is written under a temporary name with mode 0600 and renamed when complete, so a
half-written backup never looks like a good one. A restore replaces the whole database; stop the
web and worker processes first (docs/operations.md says how).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why, without secrets."""


@dataclass(frozen=True)
class Target:
    """Where a database lives, in the terms the backup tools need."""

    backend: str  # sqlite | postgresql
    path: Path | None = None  # SQLite file
    dsn: str | None = None  # libpq URL without the password
    password: str | None = None


def target_of(url: str) -> Target:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BackupError("an in-memory SQLite database cannot be backed up")
        return Target("sqlite", path=Path(parsed.database))
    plain = parsed.set(drivername="postgresql", password=None)
    return Target(
        "postgresql",
        dsn=plain.render_as_string(hide_password=False),
        password=parsed.password,
    )


def _private_file(path: Path) -> None:
    """Create `path` empty and readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def backup(url: str, dest: Path) -> int:
    """Write a consistent copy of the database at `url` to `dest`; returns its size in bytes."""
    target = target_of(url)
    partial = dest.with_name(dest.name + ".partial")
    _private_file(partial)
    try:
        if target.backend == "sqlite":
            _sqlite_copy(_existing(target.path), partial)
        else:
            _pg_run(["pg_dump", "--format=custom", f"--file={partial}"], target)
        partial.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return dest.stat().st_size


def restore(url: str, source: Path) -> None:
    """Replace the database at `url` with the backup in `source`."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    target = target_of(url)
    if target.backend == "sqlite":
        _check_sqlite_backup(source)
        assert target.path is not None
        if not target.path.exists():
            _private_file(target.path)
        _sqlite_copy(source, target.path)
        return
    _pg_run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            str(source),
        ],
        target,
    )


def _existing(path: Path | None) -> Path:
    if path is None or not path.is_file():
        raise BackupError(f"no SQLite database at {path}")
    return path


def _sqlite_copy(source: Path, dest: Path) -> None:
    """SQLite's online backup: a consistent snapshot even while others write."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from None
    finally:
        dst.close()
        src.close()


def _check_sqlite_backup(source: Path) -> None:
    """Refuse a file that is not a sound Coordinator database before touching the live one."""
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source} is not a Coordinator backup: {exc}") from None
    if not ok or ok[0] != "ok" or not version:
        raise BackupError(f"{source} is damaged or not a Coordinator backup")


def _pg_run(command: list[str], target: Target) -> None:
    program = command[0]
    if shutil.which(program) is None:
        raise BackupError(f"{program} is not installed (Debian: apt-get install postgresql-client)")
    env = dict(os.environ)
    if target.password:
        env["PGPASSWORD"] = target.password  # not on the command line, where ps would show it
    result = subprocess.run(
        [*command, f"--dbname={target.dsn}"], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BackupError(f"{program} failed: {result.stderr.strip()[-2000:]}")
