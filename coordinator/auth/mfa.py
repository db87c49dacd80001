"""The second factor: an authenticator app (TOTP, RFC 6238) and one-time recovery codes.

Admins must have one; an admin may make it compulsory for other roles too. Seeds are stored
encrypted with a key derived from COORDINATOR_SECRET_KEY (rotating that key means enrolling
again). A code is accepted once: the last time step used is kept per user.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from coordinator.auth import policy, throttle
from coordinator.auth.audit import audit
from coordinator.auth.models import ROLES, MfaRequiredRole, RecoveryCode, User, UserTotp
from coordinator.auth.passwords import token_digest, verify_password
from coordinator.auth.scope import Actor
from coordinator.auth.sessions import end_user_sessions
from coordinator.base import plain_digits, utcnow
from coordinator.db import Database
from coordinator.errors import Invalid, NotFound, field_error

ISSUER = "Coordinator"
ALWAYS_REQUIRED = frozenset({"admin"})
RECOVERY_CODES = 10
STEP = 30


def _fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"coordinator-totp-seed:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def new_seed() -> str:
    return pyotp.random_base32()


def provisioning_uri(seed: str, username: str) -> str:
    """The otpauth:// link an authenticator app reads from the QR code."""
    return pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name=ISSUER)


async def required_roles(db: Database, admins: bool = True) -> frozenset[str]:
    """The roles that must use a second factor: admins (unless the deployment's setting says
    otherwise, for tests and trainings), and those an admin chose."""
    async with db.read() as session:
        chosen = frozenset(await session.scalars(select(MfaRequiredRole.role)))
    return (ALWAYS_REQUIRED | chosen) if admins else chosen


async def must_use(db: Database, who: Actor | User, admins: bool = True) -> bool:
    """Whether this user's role must use a second factor (`admins`: the deployment's
    setting, as for `required_roles`)."""
    return who.role in await required_roles(db, admins)


async def must_use_among(db: Database, users: list[User], admins: bool = True) -> set[int]:
    """Which of these users' roles must use a second factor (for the users page)."""
    required = await required_roles(db, admins)
    return {u.id for u in users if u.id is not None and u.role in required}


async def set_required_roles(db: Database, actor: Actor, roles: set[str]) -> frozenset[str]:
    policy.require(policy.administers(actor))
    unknown = roles - set(ROLES)
    if unknown:
        raise Invalid("Unknown role.", errors=[field_error("roles", ", ".join(sorted(unknown)))])
    async with db.write() as session:
        await session.execute(delete(MfaRequiredRole))
        session.add_all(MfaRequiredRole(role=r) for r in sorted(roles - ALWAYS_REQUIRED))
        audit(session, actor, "mfa.policy", "user", None, roles=sorted(roles | ALWAYS_REQUIRED))
    return ALWAYS_REQUIRED | roles


async def enrolled(db: Database, user_id: int) -> bool:
    async with db.read() as session:
        totp = await session.get(UserTotp, user_id)
    return totp is not None and totp.confirmed_at is not None


async def enrolled_among(db: Database, user_ids: list[int]) -> set[int]:
    """Which of these users have a confirmed second factor (for the users page)."""
    async with db.read() as session:
        found = await session.scalars(
            select(UserTotp.user_id).where(
                col(UserTotp.user_id).in_(user_ids), col(UserTotp.confirmed_at).is_not(None)
            )
        )
        return set(found)


async def confirm(
    db: Database, user_id: int, seed: str, code: str, secret_key: str, now: float | None = None
) -> list[str]:
    """Enrol `seed` once the app shows a right code; returns fresh recovery codes (shown once)."""
    step = _matching_step(seed, code, now)
    if step is None:
        raise Invalid(
            "The code does not match.",
            errors=[field_error("code", "enter the 6 digits your app shows now")],
        )
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
    async with db.write() as session:
        await _forget(session, user_id)
        session.add(
            UserTotp(
                user_id=user_id,
                secret_encrypted=_fernet(secret_key).encrypt(seed.encode()).decode(),
                confirmed_at=utcnow(),
                last_step=step,
            )
        )
        session.add_all(RecoveryCode(user_id=user_id, code_hash=token_digest(c)) for c in codes)
        audit(session, None, "mfa.enrol", "user", user_id)
    return codes


async def verify(
    db: Database, user_id: int, code: str, secret_key: str, now: float | None = None
) -> bool:
    """True for a current authenticator code not used before, or an unused recovery code."""
    code = "".join(code.split())
    async with db.write() as session:
        totp = await session.get(UserTotp, user_id, with_for_update=True)
        if totp is None or totp.confirmed_at is None:
            return False
        try:
            seed = _fernet(secret_key).decrypt(totp.secret_encrypted.encode()).decode()
        except InvalidToken:
            return False  # the secret key changed: the user must enrol again
        step = _matching_step(seed, code, now)
        if step is not None and step > totp.last_step:
            totp.last_step = step
            return True
        if len(code) == 10 and plain_digits(code):
            return await _use_recovery_code(session, user_id, code)
    return False


async def checked(db: Database, user_id: int, code: str, secret_key: str, address: str) -> bool:
    """`verify`, throttled like a password: codes are only a million, so each user's code
    guesses get the sign-in delays and hourly ceiling (raises TooManyAttempts)."""
    admission = await throttle.admit(db, f"2fa:{user_id}", address)
    ok = await verify(db, user_id, code, secret_key)
    async with db.write() as session:
        await throttle.settle(session, admission, ok)
        if not ok:
            audit(session, None, "mfa.code_failed", "user", user_id)
    return ok


async def remove_own(
    db: Database, actor: Actor, password: str, code: str, secret_key: str, address: str
) -> None:
    """A user removes their own second factor only with their password and a current code:
    a stolen session alone must not be able to take the factor away."""
    assert actor.user_id is not None
    async with db.read() as session:
        user = await session.get(User, actor.user_id)
    assert user is not None
    admission = await throttle.admit(db, user.username, address)
    right = await asyncio.to_thread(verify_password, user.password_hash, password)
    async with db.write() as session:
        await throttle.settle(session, admission, right)
    if not right or not await checked(db, actor.user_id, code, secret_key, address):
        raise Invalid(
            "The password or the code is not right.",
            errors=[field_error("code", "the password and a current code are both needed")],
        )
    await remove(db, actor, actor.user_id)


async def _use_recovery_code(session: AsyncSession, user_id: int, code: str) -> bool:
    row = await session.scalar(
        select(RecoveryCode).where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == token_digest(code),
            col(RecoveryCode.used_at).is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    audit(session, None, "mfa.recovery_used", "user", user_id)
    return True


async def remove(db: Database, actor: Actor, user_id: int) -> None:
    """Remove a user's second factor: the user themself, or an admin for a lost phone."""
    if actor.user_id != user_id:
        policy.require(policy.administers(actor))
    async with db.write() as session:
        if await session.get(User, user_id) is None:
            raise NotFound(f"User {user_id} not found.")
        await _forget(session, user_id)
        audit(session, actor, "mfa.remove", "user", user_id)
        if actor.user_id != user_id:  # a lost phone may be in someone's hands: sign them out
            ended = await end_user_sessions(session, user_id)
            audit(session, actor, "session.end_all", "user", user_id, reason="mfa", count=ended)


async def _forget(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(UserTotp).where(col(UserTotp.user_id) == user_id))
    await session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


def _matching_step(seed: str, code: str, now: float | None) -> int | None:
    """The time step whose code this is, allowing one step of clock drift either way."""
    code = "".join(code.split())
    if len(code) != 6 or not plain_digits(code):
        return None
    totp = pyotp.TOTP(seed)
    at = time.time() if now is None else now
    for drift in (0, -1, 1):
        moment = at + drift * STEP
        if secrets.compare_digest(totp.at(moment), code):
            return int(moment // STEP)
    return None
