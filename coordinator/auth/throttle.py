"""Sign-in throttling kept in the database, so every web process counts the same attempts.

No lock that a stranger can trigger. Three rules, over the attempts of the last hour:
- an account from one address (the pair): 5 free failures, then each further attempt waits
  2^(n-5) seconds after the last failure, at most 15 minutes; a success clears the pair;
- one address, any accounts (password spraying): 30 free failures, then the same doubling;
- one account, any addresses: at most 100 failures per hour (ASVS 5.0 V6.3.1), then the
  account waits until its oldest failure of the hour ages out.
So the real user signing in from their own address is slowed only by the account ceiling,
which takes at least six addresses an hour to reach (one address gets ~17 tries an hour).
docs/security.md, "Sign-in throttling", explains the numbers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from coordinator.auth.models import SignInAttempt
from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.errors import DomainError

WINDOW = timedelta(hours=1)
PAIR_FREE = 5
ADDRESS_FREE = 30
ACCOUNT_CEILING = 100
MAX_DELAY = 15 * 60.0


class TooManyAttempts(DomainError):
    status = 429
    title = "Too many sign-in attempts"
    code = "throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__("Too many sign-in attempts; try again later.")
        self.retry_after = retry_after


def delay_after(failures: int, free: int) -> float:
    """Seconds to wait after the last of `failures` failures: none until `free` of them."""
    if failures < free:
        return 0.0
    return min(2.0 ** (failures - free), MAX_DELAY)


def address_key(host: str) -> str:
    """The address an attempt counts against: IPv4 as is, IPv6 by its /64 (one subscriber's
    block, which an attacker can rotate through freely), anything else as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:45]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Admission:
    attempt_id: int


async def admit(db: Database, username: str, host: str, now: datetime | None = None) -> Admission:
    """Record an attempt about to be checked, or raise TooManyAttempts with the wait."""
    now = now or utcnow()
    address = address_key(host)
    async with db.write() as session:
        await _lock(session, db.dialect, username, address)
        await session.execute(delete(SignInAttempt).where(col(SignInAttempt.at) < now - WINDOW))
        wait = max(
            await _pair_wait(session, username, address, now),
            await _address_wait(session, address, now),
            await _account_wait(session, username, now),
        )
        if wait > 0:
            raise TooManyAttempts(wait)
        attempt = SignInAttempt(username=username, address=address, at=now)
        session.add(attempt)
        await session.flush()
        assert attempt.id is not None
        return Admission(attempt.id)


async def settle(session: AsyncSession, admission: Admission, ok: bool) -> None:
    """The attempt's outcome, written in the caller's sign-in transaction."""
    await session.execute(
        update(SignInAttempt).where(col(SignInAttempt.id) == admission.attempt_id).values(ok=ok)
    )


async def _lock(session: AsyncSession, dialect: str, username: str, address: str) -> None:
    """PostgreSQL: one attempt at a time per account and per address, so parallel guesses
    see each other (always account first, then address: no deadlock). SQLite's BEGIN
    IMMEDIATE already runs write transactions one at a time."""
    if dialect != "postgresql":
        return
    for key in (f"signin:user:{username}", f"signin:addr:{address}"):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def _failed() -> ColumnElement[bool]:
    return or_(col(SignInAttempt.ok).is_(None), col(SignInAttempt.ok).is_(False))


def _wait_from(last: datetime | None, failures: int, free: int, now: datetime) -> float:
    if last is None:
        return 0.0
    return max(0.0, delay_after(failures, free) - (now - last).total_seconds())


async def _pair_wait(session: AsyncSession, username: str, address: str, now: datetime) -> float:
    pair = and_(col(SignInAttempt.username) == username, col(SignInAttempt.address) == address)
    last_ok = await session.scalar(
        select(func.max(SignInAttempt.at)).where(pair, col(SignInAttempt.ok).is_(True))
    )
    since = max(last_ok, now - WINDOW) if last_ok else now - WINDOW
    failures, last = (
        await session.execute(
            select(func.count(), func.max(SignInAttempt.at)).where(
                pair, _failed(), col(SignInAttempt.at) > since
            )
        )
    ).one()
    return _wait_from(last, failures, PAIR_FREE, now)


async def _address_wait(session: AsyncSession, address: str, now: datetime) -> float:
    failures, last = (
        await session.execute(
            select(func.count(), func.max(SignInAttempt.at)).where(
                col(SignInAttempt.address) == address,
                _failed(),
                col(SignInAttempt.at) > now - WINDOW,
            )
        )
    ).one()
    return _wait_from(last, failures, ADDRESS_FREE, now)


async def _account_wait(session: AsyncSession, username: str, now: datetime) -> float:
    """Until the hour's failures drop below the ceiling: the ceiling-th newest ages out."""
    oldest_counted = await session.scalar(
        select(col(SignInAttempt.at))
        .where(
            col(SignInAttempt.username) == username,
            _failed(),
            col(SignInAttempt.at) > now - WINDOW,
        )
        .order_by(col(SignInAttempt.at).desc())
        .offset(ACCOUNT_CEILING - 1)
        .limit(1)
    )
    if oldest_counted is None:
        return 0.0
    return max(0.0, (oldest_counted + WINDOW - now).total_seconds())
