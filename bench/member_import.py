"""Member import at province scale: the service the web upload and the API call
(`importer.import_members`), given a file written the way a user's spreadsheet would be.

For each database, size and format: a fresh migrated database with a province of 10 districts
x 10 communes (two clubs each), a file naming each member's commune, code and (three rows in
five) a club; then, timed in a fresh process each, the preview (dry run), the import, and the
same file imported again (nothing changes). Wall time, this process's CPU, the PostgreSQL
backend's CPU, peak memory (maxrss) and the load average are printed with every figure; the
kept member counts are checked against a recount.

`--legacy` runs the import as it was before set-based writes (one INSERT and one DELETE per
member), copied below, so before and after run side by side in the same minutes.

    .venv/bin/python -m bench.member_import --rows 10000,50000,100000
    .venv/bin/python -m bench.member_import --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.member_import --rows 10000 --legacy --format csv
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event, text, update
from sqlmodel import col

from coordinator.auth.scope import SYSTEM
from coordinator.base import row_id
from coordinator.db import Database
from coordinator.organizations import importer
from coordinator.organizations import service as orgs
from coordinator.organizations.members import club_ids_of, set_clubs
from coordinator.organizations.models import Member
from coordinator.tallies.summary import recount_summary
from tests import dbtools

DISTRICTS, COMMUNES = 10, 10
TIMEOUT = 300


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def commune_name(d: int, c: int) -> str:
    return f"Đoàn xã {d:02d}-{c:02d}"


def table(rows: int, given: str = "Văn") -> list[list[str]]:
    header = ["Họ và tên", "Mã đoàn viên", "Đơn vị", "CLB", "Ngôn ngữ"]
    body = []
    for n in range(rows):
        d, c = divmod(n % (DISTRICTS * COMMUNES), COMMUNES)
        club = f"CLB {d}-{c}-{n % 2}" if n % 5 < 3 else ""
        body.append([f"Nguyễn {given} {n:06d}", f"DV{n:06d}", commune_name(d, c), club, "vi"])
    return [header, *body]


def write_file(rows: int, kind: str, folder: Path, given: str = "Văn") -> Path:
    """The file as a user's spreadsheet program would save it."""
    path = folder / f"members-{rows}-{given}.{kind}"
    if kind == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            csv.writer(out).writerows(table(rows, given))
        return path
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Đoàn viên")
    for line in table(rows, given):
        sheet.append(line)
    book.save(path)
    return path


async def province(db: Database) -> int:
    root = await orgs.create_organization(
        db, None, name="Tỉnh đoàn", kind="province", parent_id=None
    )
    assert root.id is not None
    for d in range(DISTRICTS):
        district = await orgs.create_organization(
            db, None, name=f"Huyện đoàn {d:02d}", kind="district", parent_id=root.id
        )
        for c in range(COMMUNES):
            commune = await orgs.create_organization(
                db, None, name=commune_name(d, c), kind="commune", parent_id=district.id
            )
            assert commune.id is not None
            for k in range(2):
                await orgs.create_club(
                    db, None, organization_id=commune.id, name=f"CLB {d}-{c}-{k}"
                )
    return root.id


async def legacy_apply(session: Any, plan: Any, _allowed: Any = None) -> importer.ImportResult:
    """The import's writes before set-based statements (commit 74771be), kept to compare."""
    result = importer.ImportResult()
    known = [row_id(p.existing) for p in plan.rows if p.existing is not None]
    current_clubs = await club_ids_of(session, known) if known else {}
    for p in plan.rows:
        member = p.existing
        if member is None:
            member = Member(
                organization_id=p.organization_id,
                display_name=p.display_name,
                code=p.code,
                locale=p.locale,
            )
            session.add(member)
            await session.flush()
            await set_clubs(session, row_id(member), p.club_ids)
            result.created += 1
            continue
        changed = member.display_name != p.display_name or member.locale != p.locale
        clubs_changed = sorted(set(p.club_ids)) != sorted(current_clubs.get(row_id(member), []))
        if changed:  # was an attribute set on the loaded Member; the same one UPDATE a row
            await session.execute(
                update(Member)
                .where(col(Member.id) == row_id(member))
                .values(display_name=p.display_name, locale=p.locale)
            )
        if clubs_changed:
            await set_clubs(session, row_id(member), p.club_ids)
        if changed or clubs_changed:
            result.updated += 1
        else:
            result.unchanged += 1
    return result


class ServerClock:
    """CPU time of the PostgreSQL backends this process opened (read from /proc)."""

    def __init__(self, db: Database) -> None:
        self.pids: list[int] = []
        if db.dialect == "postgresql":

            @event.listens_for(db.engine.sync_engine, "connect")
            def on_connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT pg_backend_pid()")
                self.pids.append(int(cursor.fetchone()[0]))
                cursor.close()

    def seconds(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


async def timed(clock: ServerClock, work: Any) -> dict[str, Any]:
    wall, cpu, server = time.perf_counter(), time.process_time(), clock.seconds()
    try:
        result = await asyncio.wait_for(work, TIMEOUT)
    except TimeoutError:
        return {"timeout": True}
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "server": clock.seconds() - server,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }


async def one_run(url: str, path: Path, files: dict[str, bytes], legacy: bool) -> dict[str, Any]:
    """In a fresh process: preview, import, import again, import with every name changed;
    what each took and cost."""
    importer.MAX_ROWS = max(importer.MAX_ROWS, 100_000)  # the legacy code refused over 50,000
    if legacy:
        importer._apply = legacy_apply  # type: ignore[assignment]
    db = Database(url)
    clock = ServerClock(db)
    try:
        root = await province(db)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out: dict[str, Any] = {"rss_before": rss_before}
        steps = (("preview", "first"), ("import", "first"), ("again", "first"))
        for step, file in (*steps, ("renamed", "renamed")):
            data = files[file]
            work = importer.import_members(
                db, SYSTEM, root, data, path.name, dry_run=step == "preview"
            )
            out[step] = await timed(clock, work)
            if out[step].get("timeout"):
                break
        out["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = await recount_summary(db)
        async with db.read() as session:
            kept = await session.scalar(text("SELECT COALESCE(SUM(active), 0) FROM member_tally"))
        out["drift"], out["kept"] = len(report.lines), kept
        return out
    finally:
        await db.dispose()


def child(url: str, path: Path, legacy: bool) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.member_import", "--child", url, str(path)]
    done = subprocess.run(
        args + (["--legacy"] if legacy else []), capture_output=True, text=True, check=False
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def renamed(path: Path) -> Path:
    return path.with_name(path.name.replace("-Văn.", "-Thị."))


def fresh_database(base: str | None, folder: Path) -> str:
    if base:
        url = asyncio.run(dbtools.create_pg_database(base, f"coord_imp_{uuid.uuid4().hex[:8]}"))
    else:
        url = f"sqlite+aiosqlite:///{folder / f'import-{uuid.uuid4().hex[:8]}.db'}"
    dbtools.upgrade(url)
    return url


def show(label: str, out: dict[str, Any]) -> None:
    if "error" in out:
        print(f"{label}  failed: {out['error']}  {load()}", flush=True)
        return
    parts = []
    for step in ("preview", "import", "again", "renamed"):
        got = out.get(step)
        if not got:
            continue
        if got.get("timeout"):
            parts.append(f"{step} > {TIMEOUT} s (stopped)")
            continue
        parts.append(
            f"{step} {got['wall']:6.2f} s (cpu {got['cpu']:5.2f}, server {got['server']:5.2f})"
        )
    memory = f"rss {out['rss_before']:.0f}->{out['rss_peak']:.0f} MB"
    checks = f"kept {out['kept']} drift {out['drift']}"
    print(f"{label}  {'  '.join(parts)}  {memory}  {checks}  {load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="10000,50000,100000")
    parser.add_argument("--format", default="csv,xlsx")
    parser.add_argument("--postgres", help="server URL; scratch databases are created and dropped")
    parser.add_argument("--legacy", action="store_true", help="the writes before this change too")
    parser.add_argument("--child", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path = Path(args.child[1])
        files = {"first": path.read_bytes(), "renamed": renamed(path).read_bytes()}
        result = asyncio.run(one_run(args.child[0], path, files, args.legacy))
        print(json.dumps(result))
        return
    print(f"{os.cpu_count()} cpus, Python {sys.version.split()[0]}, {load()}", flush=True)
    database = "PostgreSQL" if args.postgres else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for rows in (int(r) for r in args.rows.split(",")):
            for kind in args.format.split(","):
                path = write_file(rows, kind, folder)
                write_file(rows, kind, folder, "Thị")
                for legacy in (True, False) if args.legacy else (False,):
                    url = fresh_database(args.postgres, folder)
                    try:
                        out = child(url, path, legacy)
                    finally:
                        if args.postgres:
                            asyncio.run(dbtools.drop_pg_database(url))
                    size = f"{path.stat().st_size / 1e6:.1f} MB"
                    when = "before" if legacy else "after "
                    label = f"{database} {rows:>6} {kind:<4} {size:>7} {when}"
                    show(label, out)


if __name__ == "__main__":
    main()
