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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, Table, TypeDecorator, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from coordinator.base import UTCDateTime
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
                if table.name in KEPT_BY_TRIGGERS:
                    report.tables.append(await _source_check(src, table, batch))
                else:
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


# The tally summary is kept by triggers on the tables it counts: they rebuild it on the target
# as the rows arrive. Copying it too would count everything twice; verifying it checks that
# the rebuilt summary equals the source's.
KEPT_BY_TRIGGERS = frozenset({"tally_summary", "member_tally"})


async def _source_check(src: AsyncConnection, table: Table, batch: int) -> TableCheck:
    check = TableCheck(table.name)
    digest = RowDigest(table)
    result = await src.stream(select(table))
    async for part in result.partitions(batch):
        rows = [tuple(row) for row in part]
        digest.add(rows)
        check.source_rows += len(rows)
    check.source_digest = digest.hexdigest()
    return check


async def _copy_table(
    src: AsyncConnection, dst: AsyncConnection, table: Table, batch: int, say: Say
) -> TableCheck:
    check = TableCheck(table.name)
    digest = RowDigest(table)
    late = _self_references(table)  # written in a second pass: a parent may have a higher id
    pending: list[tuple[Any, ...]] = []
    started = time.perf_counter()
    result = await src.stream(select(table).order_by(*table.primary_key.columns))
    async for part in result.partitions(batch):
        rows: list[tuple[Any, ...]] = [tuple(row) for row in part]
        digest.add(rows)
        if late:
            pending += [row for row in rows if any(row[i] is not None for i in late)]
            rows = [tuple(None if i in late else v for i, v in enumerate(row)) for row in rows]
        await _write(dst, table, rows)
        check.source_rows += len(rows)
        if check.source_rows % (batch * 20) == 0:
            say(f"  {table.name}: {check.source_rows:,} rows ...")
    await _write_late(dst, table, late, pending)
    check.source_digest = digest.hexdigest()
    say(f"  {table.name}: {check.source_rows:,} rows ({time.perf_counter() - started:.1f} s)")
    return check


async def _write(dst: AsyncConnection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY, several times cheaper than INSERT for both processes on the machine.

    Values go through each column type's own bind step first (aware UTC timestamps, JSON as
    text), exactly what an INSERT through the same Table would send.
    """
    columns = list(table.columns)
    steps = [c.type.bind_processor(dst.dialect) for c in columns]
    if any(steps):
        rows = [
            tuple(step(v) if step else v for step, v in zip(steps, row, strict=True))
            for row in rows
        ]
    raw = await dst.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=rows, columns=[c.name for c in columns]
    )


def _self_references(table: Table) -> set[int]:
    """Positions of the columns that point into the same table (organization.parent_id)."""
    names = list(table.columns.keys())
    return {names.index(fk.parent.key) for fk in table.foreign_keys if fk.column.table is table}


async def _write_late(
    dst: AsyncConnection, table: Table, late: set[int], rows: list[tuple[Any, ...]]
) -> None:
    """Set the self-references blanked at insert, now that every row of the table exists."""
    columns = list(table.columns)
    for row in rows:
        where = [c == row[i] for i, c in enumerate(columns) if c.primary_key]
        values = {columns[i].key: row[i] for i in late}
        await dst.execute(update(table).where(*where).values(**values))


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
    """An order-independent digest of a table's rows: the sum of each row's BLAKE2b, mod 2**128.

    Order-independent because SQLite and PostgreSQL sort text keys differently. Timestamps and
    JSON are put in one canonical form first (aware UTC; JSON text with sorted keys), since the
    two databases may hand them back as different but equal objects.
    """

    def __init__(self, table: Table) -> None:
        self.total = 0
        self._forms = [_canonical_form(column.type) for column in table.columns]

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        forms = self._forms
        for row in rows:
            line = repr(
                tuple(
                    v if f is None or v is None else f(v) for f, v in zip(forms, row, strict=True)
                )
            )
            digest = hashlib.blake2b(line.encode(), digest_size=16).digest()
            self.total = (self.total + int.from_bytes(digest, "big")) % (1 << 128)

    def hexdigest(self) -> str:
        return f"{self.total:032x}"


def _canonical_form(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        return None  # already aware UTC on both sides, so equal values print alike
    kind = column_type.impl if isinstance(column_type, TypeDecorator) else column_type
    if isinstance(kind, JSON):
        return lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)
    if isinstance(kind, DateTime):
        return lambda v: v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    return None


async def _verify(src: AsyncConnection, dst: AsyncConnection, report: CopyReport, say: Say) -> None:
    say("Verifying the copy ...")
    for check in report.tables:
        table = metadata.tables[check.name]
        source_rows = await src.scalar(select(func.count()).select_from(table))
        if source_rows != check.source_rows:
            check.source_rows = int(source_rows or 0)  # shows as a mismatch
        check.target_rows = int(await dst.scalar(select(func.count()).select_from(table)) or 0)
        digest = RowDigest(table)
        result = await dst.stream(select(table))
        async for part in result.partitions(BATCH):
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
    try:
        return asyncio.run(copy_rows(source_url, target_url, revision, say=say))
    except (OSError, DBAPIError) as exc:
        raise CopyError(f"the copy failed, nothing was committed: {_reason(exc)}") from None
