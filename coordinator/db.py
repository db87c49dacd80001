"""The database engine and sessions: SQLite tuned for one machine, PostgreSQL for production."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, any_, event, func, literal, text
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")
logger = logging.getLogger("coordinator.db")
WRITE_OPTION = "coordinator_write"
# PostgreSQL aborts one side of a deadlock (40P01) or of a serialization conflict (40001);
# the transaction did nothing and running it again is the documented answer.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for the lock


def _sqlite_from_hint(compiler: Any, table: Any, hint: str | None) -> str | None:
    return hint


# SQLAlchemy renders no table hints for SQLite; this lets `Select.with_hint(t, "INDEXED BY
# ix", "sqlite")` pin a partial index where SQLite, without statistics, would walk a bigger one.
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign,assignment]


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL + busy_timeout + foreign keys on every connection; writers take the lock up front.

    pysqlite's own transaction handling is switched off so that we can say BEGIN IMMEDIATE:
    a write transaction that starts as a reader and upgrades later can fail with SQLITE_BUSY
    without waiting, while BEGIN IMMEDIATE waits its turn under busy_timeout.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _private_database_file(path: Path) -> None:
    """Make the database file readable by its owner only; SQLite gives its -wal and -shm
    files the same mode, so volunteers' names are never world-readable on the machine. A file
    created before this rule (or by hand) is tightened too, with its -wal and -shm."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            continue
        except PermissionError:  # not ours to change: say so rather than fail to start
            logger.warning("%s is readable by others and is not ours to tighten", file)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_database_file(Path(parsed.database))
        engine = create_async_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """One engine, two kinds of session: `read()` for queries, `write()` for transactions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(write_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and rolls back on any exception."""
        async with self._writer() as session, session.begin():
            yield session

    async def transaction(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 4
    ) -> T:
        """`work` in a write transaction, run again (after a short random pause) when the
        database aborted it as one side of a deadlock or serialization conflict. `work` must
        only touch the database: it may run more than once."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as session:
                    return await work(session)
            except DBAPIError as exc:
                if attempt == attempts or not is_retryable(exc):
                    raise
                logger.warning("transaction aborted (%s), attempt %d: again", exc.orig, attempt)
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def turns(self, key: int, sub: int) -> AsyncIterator[None]:
        """The block runs for one holder of (`key`, `sub`) at a time, across processes and
        machines: a PostgreSQL advisory lock held on a connection of its own for as long as
        the block, which may span several transactions (a crash closes the connection and
        frees the lock). SQLite: nothing; its single writer takes turns already."""
        if self.dialect != "postgresql":
            yield
            return
        ids = {"key": key, "sub": sub}
        async with self.engine.connect() as connection:
            own = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await own.execute(text("SELECT pg_advisory_lock(:key, :sub)"), ids)
            try:
                yield
            finally:
                await own.execute(text("SELECT pg_advisory_unlock(:key, :sub)"), ids)

    async def dispose(self) -> None:
        await self.engine.dispose()


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure: the whole transaction may simply run again."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def upsert_insert(session: AsyncSession) -> Any:
    """`insert` of the session's dialect: INSERT ... ON CONFLICT DO NOTHING exists in both,
    spelt by each one's module."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def id_pairs(session: AsyncSession, pairs: Sequence[tuple[int, int | None]]) -> Any | None:
    """On PostgreSQL, (id, value) pairs as a table to UPDATE ... FROM: `unnest` of two bigint
    arrays, one statement with two parameters however many rows (an executemany costs the
    driver and SQLAlchemy a parameter set per row). None on SQLite: execute many there."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    from sqlalchemy.dialects.postgresql import ARRAY

    ids = literal([p[0] for p in pairs], ARRAY(BigInteger))
    values = literal([p[1] for p in pairs], ARRAY(BigInteger))
    return func.unnest(ids, values).table_valued("id", "value").render_derived()


def in_ids(session: AsyncSession, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids`. On PostgreSQL as `= ANY(array)`: one parameter, so one SQL text and
    one prepared statement whatever the count (an IN list is a new statement for every
    length, prepared again by the driver)."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(ids)
    from sqlalchemy.dialects.postgresql import ARRAY

    return column == any_(literal(list(ids), ARRAY(BigInteger)))
