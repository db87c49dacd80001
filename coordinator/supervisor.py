"""Supervised loops: a loop that raises is logged with its traceback and restarted with capped
backoff, and each loop's last good tick (its heartbeat) is kept in `loop_heartbeat`.

The heartbeats live in the database because `/health/ready` may be answered by a web process
while the loops run in workers. Each process writes its own rows every few seconds (not on
every tick) and deletes them when it stops cleanly; a process that was killed leaves rows that
stop moving, and readiness reads them as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Column, Integer, Text, delete
from sqlalchemy.exc import StatementError
from sqlmodel import Field, SQLModel, col, select

from coordinator import metrics
from coordinator.base import UTCDateTime, utcnow
from coordinator.db import Database

logger = logging.getLogger("coordinator.supervisor")
FLUSH_EVERY = 2.0  # seconds between writes of this process's heartbeats
FORGET_AFTER = timedelta(hours=1)  # rows of a process silent this long are removed


class LoopHeartbeat(SQLModel, table=True):
    __tablename__ = "loop_heartbeat"
    process: str = Field(primary_key=True, max_length=120)
    loop: str = Field(primary_key=True, max_length=40)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    restarts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def describe(exc: BaseException) -> str:
    """An error as stored and shown on /health/ready: its type and the first line of its
    message. A database error shows the driver's reason, not the statement or its values."""
    detail: object = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        detail = exc.orig
    lines = str(detail).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


@dataclass
class Beat:
    """One loop's heartbeat in memory: `ok()` after each good tick, cheap enough for every one."""

    loop: str
    started_at: datetime = field(default_factory=utcnow)
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    restarts: int = 0

    def ok(self) -> None:
        self.last_ok_at = utcnow()

    def failed(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else describe(error)
        self.last_error, self.last_error_at = text[:500], utcnow()


Loop = Callable[[Beat], Awaitable[None]]


class Supervisor:
    """Runs named loops until their `stop` is set, restarting them when they fail."""

    def __init__(
        self,
        db: Database,
        *,
        first_backoff: float = 0.5,
        max_backoff: float = 5.0,  # a loop that fails is tried again at least this often
        process: str | None = None,
    ) -> None:
        self.db, self.first_backoff, self.max_backoff = db, first_backoff, max_backoff
        self.process = process or this_process()
        self.beats: dict[str, Beat] = {}

    def start(
        self, name: str, loop: Loop, stop: asyncio.Event, *, job: bool = False
    ) -> asyncio.Task[None]:
        """Run `loop` under supervision. A loop that returns before `stop` is restarted; a
        `job` (a set-up step) is done when it returns, retried only when it raises."""
        beat = Beat(name)
        if not job:
            self.beats[name] = beat
        return asyncio.create_task(self._supervise(beat, loop, stop, job), name=name)

    async def _supervise(self, beat: Beat, loop: Loop, stop: asyncio.Event, job: bool) -> None:
        backoff = self.first_backoff
        while not stop.is_set():
            ticked = beat.last_ok_at
            try:
                await loop(beat)
                if job or stop.is_set():
                    return
                raise RuntimeError(f"the {beat.loop} loop returned while it should run")
            except Exception as exc:
                if beat.last_ok_at != ticked:
                    backoff = self.first_backoff  # it did work since the last failure
                logger.exception("%s failed; restarting in %.1f s", beat.loop, backoff)
                beat.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            beat.restarts += 1
            metrics.RESTARTS.labels(beat.loop).inc()
            backoff = min(self.max_backoff, backoff * 2)

    async def flush(self) -> None:
        """Write this process's heartbeats (one transaction) and forget long-silent processes."""
        now = utcnow()
        async with self.db.write() as session:
            for beat in list(self.beats.values()):
                row = await session.get(LoopHeartbeat, (self.process, beat.loop))
                if row is None:
                    row = LoopHeartbeat(
                        process=self.process, loop=beat.loop, started_at=beat.started_at
                    )
                    session.add(row)
                row.last_ok_at, row.restarts, row.updated_at = beat.last_ok_at, beat.restarts, now
                row.last_error, row.last_error_at = beat.last_error, beat.last_error_at
            await session.execute(
                delete(LoopHeartbeat).where(col(LoopHeartbeat.updated_at) < now - FORGET_AFTER)
            )

    async def forget(self) -> None:
        async with self.db.write() as session:
            await session.execute(
                delete(LoopHeartbeat).where(col(LoopHeartbeat.process) == self.process)
            )

    async def keep_recording(self, stop: asyncio.Event, every: float = FLUSH_EVERY) -> None:
        """Flush every `every` seconds until `stop`; a failed write is retried next time."""
        while not stop.is_set():
            try:
                await self.flush()
            except Exception as exc:
                logger.warning("could not record loop heartbeats: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


@contextlib.asynccontextmanager
async def recording(
    db: Database, supervisor: Supervisor | None = None, every: float = FLUSH_EVERY
) -> AsyncIterator[Supervisor]:
    """A supervisor whose heartbeats are written while the block runs and removed after."""
    supervisor = supervisor or Supervisor(db)
    stop = asyncio.Event()
    writer = asyncio.create_task(supervisor.keep_recording(stop, every))
    try:
        yield supervisor
    finally:
        stop.set()
        await writer
        with contextlib.suppress(Exception):  # a clean stop; a dead database must not hang it
            await supervisor.forget()


async def heartbeats(db: Database) -> list[LoopHeartbeat]:
    async with db.read() as session:
        rows = await session.scalars(
            select(LoopHeartbeat).order_by(col(LoopHeartbeat.loop), col(LoopHeartbeat.process))
        )
        return list(rows)
