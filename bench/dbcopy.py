"""Benchmark `coordinator db copy`: a province-sized SQLite deployment into an empty PostgreSQL.

Builds the province of bench/scale.py (100,000 members, 300 past campaigns with about 810,000
tasks and 1,140,000 reports, set-based SQL) plus one launched campaign to the whole province
(its tasks and outbox rows), then runs the real command and times it, verification included.

    .venv/bin/python -m bench.dbcopy --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.dbcopy --postgres ... --members 20000 --campaigns 60   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.scale import generate, launch_big, say
from coordinator.db import Database
from tests import dbtools


async def build(url: str, members: int, campaigns: int) -> None:
    db = Database(url)
    try:
        ids = await generate(db, members, 1_000, campaigns)
        await launch_big(db, ids)
    finally:
        await db.dispose()


def copy(source: str, target: str, var_dir: Path) -> float:
    """Run the command as an operator would; return its wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "db", "copy", "--to", target],
        env={**os.environ, "COORDINATOR_DATABASE_URL": source, "COORDINATOR_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    print(result.stdout, end="")
    if result.returncode != 0:
        sys.exit(f"db copy failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", required=True, help="server URL; a scratch database is used")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=300)
    args = parser.parse_args()
    say(
        "machine",
        f"{platform.platform()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = f"sqlite+aiosqlite:///{Path(tmp) / 'province.db'}"
        dbtools.upgrade(source)
        asyncio.run(build(source, args.members, args.campaigns))
        say("SQLite file", f"{(Path(tmp) / 'province.db').stat().st_size / 2**20:.0f} MiB")
        target = asyncio.run(
            dbtools.create_pg_database(args.postgres, f"coord_copy_{uuid.uuid4().hex[:8]}")
        )
        try:
            # The command migrates the empty target itself; that is part of what is timed.
            say("load average (1, 5, 15 min) before", _load())
            elapsed = copy(source, target, Path(tmp) / "var")
        finally:
            asyncio.run(dbtools.drop_pg_database(target))
    say("db copy, wall time (migrate + copy + verify)", f"{elapsed:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    say("db copy, peak memory of the process", f"{peak:.0f} MB")
    say("load average (1, 5, 15 min) after", _load())


if __name__ == "__main__":
    main()
