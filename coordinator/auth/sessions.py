"""Browser sessions in the database: kept, loaded, listed and ended; any web process serves
any user. The cookie holds a random id and the row only its SHA-256 digest.

A session lives 12 hours from sign-in at most (absolute) and 2 hours without a request
(idle). Ending a user's sessions deletes the rows, so every process forgets them at once;
a request in flight cannot bring one back (an existing session is only ever updated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from coordinator.auth.audit import audit
from coordinator.auth.models import WebSession
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.errors import NotFound

LIFETIME = timedelta(hours=12)
IDLE = timedelta(hours=2)
SEEN_STEP = timedelta(minutes=1)  # last_seen_at is written at most this often per session


def key_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Client:
    """Where a session was last used from, as shown on the account page."""

    user_agent: str
    address: str

    def trimmed(self) -> Client:
        return Client(self.user_agent[:200], self.address[:45])


def _alive(now: datetime) -> ColumnElement[bool]:
    return (col(WebSession.expires_at) > now) & (col(WebSession.last_seen_at) > now - IDLE)


async def load(db: Database, session_id: str, now: datetime | None = None) -> bytes | None:
    """The session's data if it is alive; marks it seen (at most once a minute)."""
    now = now or utcnow()
    digest = key_hash(session_id)
    async with db.read() as session:
        row = (
            await session.execute(
                select(col(WebSession.data), col(WebSession.last_seen_at)).where(
                    col(WebSession.key_hash) == digest, _alive(now)
                )
            )
        ).first()
    if row is None:
        return None
    if now - row.last_seen_at >= SEEN_STEP:
        async with db.write() as session:
            await session.execute(
                update(WebSession)
                .where(col(WebSession.key_hash) == digest)
                .values(last_seen_at=now)
            )
    return bytes(row.data)


async def create(
    db: Database,
    session_id: str,
    data: bytes,
    user_id: int | None,
    client: Client | None,
    lifetime: timedelta = LIFETIME,
) -> None:
    now = utcnow()
    client = (client or Client("", "")).trimmed()
    async with db.write() as session:
        session.add(
            WebSession(
                key_hash=key_hash(session_id),
                user_id=user_id,
                data=data,
                created_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
                user_agent=client.user_agent,
                address=client.address,
            )
        )


async def store(db: Database, session_id: str, data: bytes, client: Client | None) -> bool:
    """Update a live session's data; False when it has ended (then nothing is written)."""
    now = utcnow()
    values: dict[str, object] = {"data": data, "last_seen_at": now}
    if client is not None:
        client = client.trimmed()
        values.update(user_agent=client.user_agent, address=client.address)
    async with db.write() as session:
        result = await session.execute(
            update(WebSession)
            .where(col(WebSession.key_hash) == key_hash(session_id), _alive(now))
            .values(**values)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove(db: Database, session_id: str) -> None:
    async with db.write() as session:
        await session.execute(
            delete(WebSession).where(col(WebSession.key_hash) == key_hash(session_id))
        )


async def purge_expired(db: Database, now: datetime | None = None) -> int:
    now = now or utcnow()
    async with db.write() as session:
        result = await session.execute(
            delete(WebSession).where(
                or_(col(WebSession.expires_at) <= now, col(WebSession.last_seen_at) <= now - IDLE)
            )
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def end_user_sessions(session: AsyncSession, user_id: int, keep: str | None = None) -> int:
    """End every session of the user (but `keep`, a session id), in the caller's transaction:
    used on password change or reset, role change and deactivation."""
    stmt = delete(WebSession).where(col(WebSession.user_id) == user_id)
    if keep is not None:
        stmt = stmt.where(col(WebSession.key_hash) != key_hash(keep))
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def list_own(db: Database, actor: Actor) -> list[WebSession]:
    """The actor's live sessions, most recently used first (data left out)."""
    async with db.read() as session:
        rows = await session.scalars(
            select(WebSession)
            .where(col(WebSession.user_id) == actor.user_id, _alive(utcnow()))
            .order_by(col(WebSession.last_seen_at).desc())
        )
        return list(rows.all())


async def end_own(db: Database, actor: Actor, session_row_id: int) -> None:
    async with db.write() as session:
        result = await session.execute(
            delete(WebSession).where(
                col(WebSession.id) == session_row_id, col(WebSession.user_id) == actor.user_id
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"Session {session_row_id} not found.")
        audit(session, actor, "session.end", "web_session", session_row_id)


async def end_others(db: Database, actor: Actor, current: str) -> int:
    """Sign the actor out everywhere but in this browser."""
    assert actor.user_id is not None
    async with db.write() as session:
        count = await end_user_sessions(session, actor.user_id, keep=current)
        audit(session, actor, "session.end_others", "user", actor.user_id, count=count)
    return count


def is_current(row: WebSession, session_id: str | None) -> bool:
    return session_id is not None and row.key_hash == key_hash(session_id)


async def seconds_left(db: Database, session_id: str) -> int | None:
    """Seconds until the session's absolute end; None when it is not alive."""
    now = utcnow()
    async with db.read() as session:
        expires_at = await session.scalar(
            select(col(WebSession.expires_at)).where(
                col(WebSession.key_hash) == key_hash(session_id), _alive(now)
            )
        )
    return None if expires_at is None else int((expires_at - now).total_seconds())


async def remove_all(db: Database) -> None:
    async with db.write() as session:
        await session.execute(delete(WebSession))
