"""Benchmark `coordinator backup` and `coordinator restore` on a province-sized database.

Builds the province of bench/scale.py (100,000 members, 300 past campaigns, about 2.3M rows) on
SQLite, times a backup and a restore of it; then copies it into a scratch PostgreSQL database
(`coordinator db copy`) and times pg_dump / pg_restore through the same two commands.

    .venv/bin/python -m bench.backup --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.dbcopy import build, copy
from bench.scale import say
from tests import dbtools


def timed(url: str, var_dir: Path, *args: str) -> float:
    """Run one `coordinator` command as an operator would; its wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        env={**os.environ, "COORDINATOR_DATABASE_URL": url, "COORDINATOR_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"coordinator {args[0]} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - started


def measure(name: str, url: str, home: Path) -> None:
    backup = home / f"{name}.backup"
    taken = timed(url, home / "var", "backup", str(backup))
    size = backup.stat().st_size / 2**20
    say(f"{name}: backup", f"{taken:.1f} s, {size:.0f} MiB")
    restored = timed(url, home / "var", "restore", "--yes", str(backup))
    say(f"{name}: restore", f"{restored:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", required=True, help="server URL; a scratch database is used")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=300)
    args = parser.parse_args()
    say("machine", f"{platform.platform()}, {os.cpu_count()} cpus, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        source = f"sqlite+aiosqlite:///{home / 'province.db'}"
        dbtools.upgrade(source)
        asyncio.run(build(source, args.members, args.campaigns))
        say("SQLite file", f"{(home / 'province.db').stat().st_size / 2**20:.0f} MiB")
        measure("SQLite", source, home)
        target = asyncio.run(
            dbtools.create_pg_database(args.postgres, f"coord_backup_{uuid.uuid4().hex[:8]}")
        )
        try:
            copy(source, target, home / "var")
            measure("PostgreSQL", target, home)
        finally:
            asyncio.run(dbtools.drop_pg_database(target))


if __name__ == "__main__":
    main()
