"""Copy a whole deployment (usually SQLite) into an empty PostgreSQL database, and prove it.

Rows are read through the model's own Table objects, so SQLite's text timestamps, JSON text and
0/1 booleans come back as Python values and are written as PostgreSQL types. Everything is
written inside one PostgreSQL transaction and checked before it commits (row counts, a digest of
every column of every row, and the campaign tallies), so a failed copy leaves the target empty.
The source is read in one transaction too: one consistent snapshot, even of a running SQLite
file; rows written after it starts are not copied, so stop web and workers first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, Table, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coordinator.db import create_engine
from coordinator.models import metadata

BATCH = 5_000
Say = Callable[[str], None]


class CopyError(RuntimeError):
    """The copy cannot start or did not verify; the message says why, without secrets."""


@dataclass
class TableCheck:
    """One table's figures on both sides."""

    name: str
    source_rows: int = 0
    target_rows: int = 0
    source_digest: str = ""
    target_digest: str = ""

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_digest == self.target_digest


@dataclass
class CopyReport:
    revision: str
    tables: list[TableCheck] = field(default_factory=list)
    source_tallies: dict[str, int] = field(default_factory=dict)
    target_tallies: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def tallies_ok(self) -> bool:
        return self.source_tallies == self.target_tallies

    @property
    def ok(self) -> bool:
        return self.tallies_ok and all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)


# ---- checking both ends before anything is written -------------------------------------------


def check_urls(source_url: str, target_url: str) -> None:
    target = make_url(target_url)
    if target.get_backend_name() != "postgresql":
        raise CopyError("--to must be a PostgreSQL URL (postgresql+asyncpg://...)")
    if make_url(source_url).render_as_string(hide_password=False) == target.render_as_string(
        hide_password=False
    ):
        raise CopyError("the source and the target are the same database")
    source = make_url(source_url)
    if source.get_backend_name() == "sqlite":
        if not source.database or source.database == ":memory:":
            raise CopyError("an in-memory SQLite database cannot be copied")
        if not Path(source.database).is_file():
            raise CopyError(f"no SQLite database at {source.database}")


async def source_revision(source_url: str) -> str:
    """The Alembic revision of the source; it must be a migrated Coordinator database."""
    engine = create_engine(source_url)
    try:
        async with engine.connect() as conn:
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except (OperationalError, DBAPIError):
        raise CopyError("the source is not a Coordinator database (no alembic_version)") from None
    finally:
        await engine.dispose()
    if not revision:
        raise CopyError("the source database has no schema revision")
    return str(revision)


async def refuse_unless_empty(target_url: str) -> None:
    """Refuse a target with any row in any of our tables (tables it does not have yet are fine)."""
    engine = create_engine(target_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            existing = set(await conn.run_sync(lambda c: c.dialect.get_table_names(c)))
            await _refuse_rows(conn, [t for t in metadata.sorted_tables if t.name in existing])
    except (OSError, DBAPIError) as exc:
        raise CopyError(f"cannot reach the target database: {_reason(exc)}") from None
    finally:
        await engine.dispose()


async def _refuse_rows(conn: AsyncConnection, tables: Iterable[Table]) -> None:
    full = [t.name for t in tables if await conn.scalar(select(1).select_from(t).limit(1))]
    if full:
        raise CopyError(
            f"the target database is not empty ({', '.join(full)} have rows): "
            "db copy only writes into a new, empty database"
        )


def _reason(exc: BaseException) -> str:
    """The driver's message without the URL (which may carry a password)."""
    return str(getattr(exc, "orig", exc)).splitlines()[0][:300]


# ---- the copy --------------------------------------------------------------------------------


async def copy_rows(
    source_url: str, target_url: str, revision: str, *, batch: int = BATCH, say: Say = print
) -> CopyReport:
    """Copy every table in foreign-key order and verify before committing; see the module doc."""
    started = time.perf_counter()
    report = CopyReport(revision)
    source, target = create_engine(source_url), create_engine(target_url, pool_size=1)
    try:
        async with source.connect() as src, target.connect() as dst:
            transaction = await dst.begin()
            await _refuse_rows(dst, metadata.sorted_tables)
            for table in metadata.sorted_tables:
                report.tables.append(await _copy_table(src, dst, table, batch, say))
            await _reset_sequences(dst)
            await _verify(src, dst, report, say)
            if not report.ok:
                await transaction.rollback()  # nothing half-copied stays behind
                return report
            await transaction.commit()
        await _analyze(target)
    finally:
        await source.dispose()
        await target.dispose()
    report.seconds = time.perf_counter() - started
    return report


async def _copy_table(
    src: AsyncConnection, dst: AsyncConnection, table: Table, batch: int, say: Say
) -> TableCheck:
    check = TableCheck(table.name)
    digest = RowDigest()
    late = _self_references(table)  # written in a second pass: a parent may have a higher id
    pending: list[dict[str, Any]] = []
    started = time.perf_counter()
    result = await src.stream(select(table).order_by(*table.primary_key.columns))
    async for part in result.mappings().partitions(batch):
        rows = [dict(row) for row in part]
        digest.add(rows)
        if late:
            pending += [_take(row, late, table) for row in rows if any(row[c] for c in late)]
        await dst.execute(insert(table), rows)
        check.source_rows += len(rows)
        if check.source_rows % (batch * 20) == 0:
            say(f"  {table.name}: {check.source_rows:,} rows ...")
    for values in pending:
        key = {c.name: values.pop(c.name) for c in table.primary_key.columns}
        where = [table.c[name] == value for name, value in key.items()]
        await dst.execute(update(table).where(*where).values(**values))
    check.source_digest = digest.hexdigest()
    say(f"  {table.name}: {check.source_rows:,} rows ({time.perf_counter() - started:.1f} s)")
    return check


def _self_references(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def _take(row: dict[str, Any], columns: list[str], table: Table) -> dict[str, Any]:
    """Blank the self-references in `row` (inserted so) and return them with the row's key."""
    values = {c.name: row[c.name] for c in table.primary_key.columns}
    for column in columns:
        values[column], row[column] = row[column], None
    return values


async def _reset_sequences(dst: AsyncConnection) -> None:
    """Each serial key's sequence continues after the highest copied id."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            # NULL (and no effect) for a key without a sequence, such as telegram_update's.
            await dst.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence(:t, :c), "
                    f'COALESCE(MAX("{column.name}"), 0) + 1, false) FROM "{table.name}"'
                ),
                {"t": f'"{table.name}"', "c": column.name},
            )


async def _analyze(target: AsyncEngine) -> None:
    """Fresh statistics, so that the first queries on the copy plan for its real size."""
    async with target.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


# ---- verification ----------------------------------------------------------------------------


class RowDigest:
    """An order-independent digest of rows: the sum of each row's SHA-256, modulo 2**256.

    Order-independent because SQLite and PostgreSQL sort text keys differently; values are put
    in one canonical form first (UTC ISO timestamps, JSON with sorted keys).
    """

    def __init__(self) -> None:
        self.total = 0

    def add(self, rows: Iterable[Mapping[Any, Any]]) -> None:
        for row in rows:
            line = json.dumps(
                [row[k] for k in sorted(row)],
                default=_canonical,
                sort_keys=True,
                ensure_ascii=False,
            )
            self.total = (self.total + int(hashlib.sha256(line.encode()).hexdigest(), 16)) % (
                1 << 256
            )

    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot compare a {type(value).__name__} value")


async def _verify(src: AsyncConnection, dst: AsyncConnection, report: CopyReport, say: Say) -> None:
    say("Verifying the copy ...")
    for check in report.tables:
        table = metadata.tables[check.name]
        source_rows = await src.scalar(select(func.count()).select_from(table))
        if source_rows != check.source_rows:
            check.source_rows = int(source_rows or 0)  # shows as a mismatch
        check.target_rows = int(await dst.scalar(select(func.count()).select_from(table)) or 0)
        digest = RowDigest()
        result = await dst.stream(select(table))
        async for part in result.mappings().partitions(BATCH):
            digest.add(part)
        check.target_digest = digest.hexdigest()
    report.source_tallies = await tallies(src)
    report.target_tallies = await tallies(dst)


async def tallies(conn: AsyncConnection) -> dict[str, int]:
    """What leadership sees, counted: tasks by campaign and status, reports by action."""
    assignment, report = metadata.tables["assignment"], metadata.tables["report"]
    by_status = select(assignment.c.campaign_id, assignment.c.status, func.count()).group_by(
        assignment.c.campaign_id, assignment.c.status
    )
    by_action = (
        select(assignment.c.campaign_id, report.c.action, func.count())
        .join(assignment, report.c.assignment_id == assignment.c.id)
        .group_by(assignment.c.campaign_id, report.c.action)
    )
    counts: dict[str, int] = {}
    for kind, query in (("tasks", by_status), ("reports", by_action)):
        for campaign_id, what, n in await conn.execute(query):
            counts[f"campaign {campaign_id} {kind} {what}"] = int(n)
    return counts


def summary(report: CopyReport) -> list[str]:
    """The figures as a table, one line per table, then the tallies and the verdict."""
    lines = [f"{'table':<22} {'source':>12} {'target':>12}  digest"]
    for t in report.tables:
        mark = "equal" if t.source_digest == t.target_digest else "DIFFERENT"
        flag = "" if t.ok else "  <- mismatch"
        lines.append(f"{t.name:<22} {t.source_rows:>12,} {t.target_rows:>12,}  {mark}{flag}")
    lines.append(
        f"{'total':<22} {report.rows:>12,} {sum(t.target_rows for t in report.tables):>12,}"
    )
    tally = "equal" if report.tallies_ok else "DIFFERENT"
    lines.append(f"tallies ({len(report.source_tallies)} campaign figures): {tally}")
    for key in sorted(set(report.source_tallies) | set(report.target_tallies)):
        a, b = report.source_tallies.get(key), report.target_tallies.get(key)
        if a != b:
            lines.append(f"  {key}: source {a}, target {b}")
    return lines


def copy_deployment(
    source_url: str, target_url: str, head: str, migrate: Callable[[str], None], *, say: Say = print
) -> CopyReport:
    """Check both ends, migrate the target to `head` (the source's revision too), copy, verify.

    `migrate(url)` upgrades a database to head; Alembic runs it outside any event loop.
    """
    check_urls(source_url, target_url)
    revision = asyncio.run(source_revision(source_url))
    if revision != head:
        raise CopyError(
            f"the source is at schema revision {revision}, this code at {head}: "
            "run `coordinator db upgrade` on the source first"
        )
    asyncio.run(refuse_unless_empty(target_url))
    migrate(target_url)
    say(f"Target migrated to {head}; copying ...")
    return asyncio.run(copy_rows(source_url, target_url, revision, say=say))
