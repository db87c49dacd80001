"""One process per deployment leads a job (the scheduler, the sender); the others stand by.

PostgreSQL: a session-level advisory lock, held on a connection of its own. When the leader
dies its connection closes and the lock goes with it, so a standby's next try wins.
SQLite: one process by design, but if two run against one file, an exclusive `flock` on a
file next to the database decides; the kernel releases it when the holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from coordinator.db import Database

logger = logging.getLogger("coordinator.leader")


class Leader:
    """Holds the lock for one job while this process leads it."""

    def __init__(self, db: Database, key: int, job: str) -> None:
        self.db, self.key, self.job = db, key, job
        self._connection: AsyncConnection | None = None
        self._file: int | None = None

    @property
    def leading(self) -> bool:
        return self._connection is not None or self._file is not None

    async def try_lead(self) -> bool:
        """True while this process leads; takes the lock when it is free."""
        if self.db.dialect != "postgresql":
            return self._try_lock_file()
        if self._connection is not None:
            if await self._still_held():
                return True
            logger.warning("lost the %s lock's connection; trying to lead again", self.job)
        connection = await self.db.engine.connect()
        got = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        if got:
            await connection.commit()  # end the implicit transaction; the lock is per session
            self._connection = connection
            logger.info("this process now runs the %s", self.job)
            return True
        await connection.close()
        return False

    async def _still_held(self) -> bool:
        """The lock lives as long as its connection: check the connection is still there."""
        assert self._connection is not None
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
            return True
        except Exception:
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
            self._connection = None
            return False

    def _try_lock_file(self) -> bool:
        if self._file is not None:
            return True
        database = make_url(self.db.url).database
        if not database or database == ":memory:":
            return True  # nobody else can open this database
        fd = os.open(Path(f"{database}.{self.job}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._file = fd
        logger.info("this process now runs the %s", self.job)
        return True

    async def step_down(self) -> None:
        if self._file is not None:
            os.close(self._file)  # closing releases the flock
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                )
            await self._connection.close()
            self._connection = None
