"""Users, sign-in and API tokens."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, throttle
from coordinator.auth.audit import audit
from coordinator.auth.models import ROLES, ApiToken, AuditEvent, User
from coordinator.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from coordinator.auth.scope import Actor, actor_for
from coordinator.auth.sessions import end_user_sessions
from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.errors import Conflict, Invalid, NotFound, field_error
from coordinator.organizations.models import Organization
from coordinator.pagination import Page, paginate

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
TOKEN_PREFIX = "coord"


def _check_user_input(username: str, password: str, role: str) -> None:
    errors = []
    if not USERNAME.match(username):
        errors.append(field_error("username", "3-64 characters: lowercase letters, digits, . _ -"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(
            field_error("password", "must be at least {n} characters", n=MIN_PASSWORD_LENGTH)
        )
    if role not in ROLES:
        errors.append(field_error("role", "must be one of {choices}", choices=", ".join(ROLES)))
    if errors:
        raise Invalid("The user cannot be created.", errors=errors)


async def create_user(
    db: Database,
    actor: Actor | None,
    *,
    username: str,
    password: str,
    role: str,
    organization_id: int,
) -> User:
    """Create a user; `actor=None` is the command line, which runs with the operator's rights."""
    if actor is not None:
        policy.require(policy.administers(actor))
    _check_user_input(username, password, role)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid(
                "The user cannot be created.",
                errors=[field_error("organization_id", "no such organization")],
            )
        if await session.scalar(select(User.id).where(User.username == username)):
            raise Conflict("The username {username!r} is taken.", values={"username": username})
        user = User(
            username=username,
            password_hash=hash_password(password),
            role=role,
            organization_id=organization_id,
        )
        session.add(user)
        await session.flush()
        audit(session, actor, "user.create", "user", user.id, role=role)
    return user


async def set_role(db: Database, actor: Actor, user_id: int, role: str) -> User:
    policy.require(policy.administers(actor))
    if role not in ROLES:
        raise Invalid(
            "Unknown role.",
            errors=[field_error("role", "one of {choices}", choices=", ".join(ROLES))],
        )
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        if not policy.keeps_the_deployment(role):
            await _keep_an_admin(session, user)
        audit(session, actor, "user.role", "user", user_id, old=user.role, new=role)
        if user.role != role:  # what a session may do changed: sign in again
            await _end_sessions(session, actor, user_id, "role")
        user.role = role
    return user


async def _keep_an_admin(session: AsyncSession, leaving: User) -> None:
    """Refuse a change that would leave the deployment with no active administrator."""
    if not policy.keeps_the_deployment(leaving.role) or not leaving.active:
        return
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == policy.ADMIN_ROLE, col(User.active).is_(True), User.id != leaving.id)
    )
    if not others:
        raise Conflict("This is the last active administrator: make another one first.")


async def _end_sessions(session: AsyncSession, actor: Actor | None, user_id: int, why: str) -> None:
    count = await end_user_sessions(session, user_id)
    if count:
        audit(session, actor, "session.end_all", "user", user_id, reason=why, count=count)


async def sign_in(db: Database, username: str, password: str, address: str = "") -> User | None:
    """The user when the password is right; raises TooManyAttempts while throttled (see
    throttle.py). Every checked attempt is audited, without the password. A hash made with
    older argon2 parameters is replaced by one with today's."""
    admission = await throttle.admit(db, username, address)
    async with db.read() as session:
        user = await session.scalar(select(User).where(User.username == username))
    # argon2 in a thread: it releases the GIL, so other requests go on meanwhile.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    rehashed = None
    if ok and user is not None and needs_rehash(user.password_hash):
        rehashed = await asyncio.to_thread(hash_password, password)
    async with db.write() as session:
        await throttle.settle(session, admission, ok)
        if user is not None and rehashed is not None:
            await session.execute(
                update(User)
                .where(col(User.id) == user.id, col(User.password_hash) == user.password_hash)
                .values(password_hash=rehashed)
            )
            user.password_hash = rehashed
        audit(
            session,
            None,
            "signin.ok" if ok else "signin.failed",
            "user",
            user.id if user else None,
            username=username[:64],
            address=address[:45],
        )
    return user if ok else None


async def signed_out(db: Database, user_id: int) -> None:
    async with db.write() as session:
        session.add(
            AuditEvent(
                actor_user_id=user_id, action="signout", object_type="user", object_id=user_id
            )
        )


async def create_token(db: Database, actor: Actor | None, user_id: int, name: str) -> str:
    """A new bearer token, shown once; only its digest is kept."""
    if actor is not None and actor.user_id != user_id:
        policy.require(policy.administers(actor))
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("The token needs a name.", errors=[field_error("name", "1-100 characters")])
    token = new_token(TOKEN_PREFIX)
    async with db.write() as session:
        if await session.get(User, user_id) is None:
            raise NotFound(f"User {user_id} not found.")
        row = ApiToken(user_id=user_id, name=name, token_hash=token_digest(token))
        session.add(row)
        await session.flush()
        audit(session, actor, "token.create", "api_token", row.id, user_id=user_id, name=name)
    return token


async def actor_from_token(db: Database, token: str) -> Actor | None:
    async with db.read() as session:
        row = await session.execute(
            select(ApiToken.id, User)
            .join(User, col(User.id) == ApiToken.user_id)
            .where(ApiToken.token_hash == token_digest(token), col(ApiToken.revoked_at).is_(None))
        )
        found = row.first()
        if found is None or not found[1].active:
            return None
        return await actor_for(session, found[1])


async def list_users(
    db: Database, actor: Actor, search: str | None, limit: int, offset: int
) -> Page[User]:
    policy.require(policy.administers(actor))
    stmt = select(User).order_by(col(User.username))
    if search:
        stmt = stmt.where(col(User.username).contains(search.strip().lower(), autoescape=True))
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)


async def set_active(db: Database, actor: Actor, user_id: int, active: bool) -> User:
    """Deactivate (or reactivate) a user; their sessions and tokens stop working at once."""
    policy.require(policy.administers(actor))
    if user_id == actor.user_id and not active:
        raise Conflict("You cannot deactivate yourself.")
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        if not active:
            await _keep_an_admin(session, user)
        user.active = active
        audit(session, actor, "user.activate" if active else "user.deactivate", "user", user_id)
        if not active:
            await _end_sessions(session, actor, user_id, "deactivated")
    return user


async def reset_password(db: Database, actor: Actor, user_id: int, password: str) -> None:
    policy.require(policy.administers(actor))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            "The password is too short.",
            errors=[
                field_error("password", "must be at least {n} characters", n=MIN_PASSWORD_LENGTH)
            ],
        )
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        user.password_hash = hash_password(password)
        audit(session, actor, "user.password_reset", "user", user_id)
        await _end_sessions(session, actor, user_id, "password_reset")


async def change_own_password(
    db: Database, actor: Actor, current: str, new: str, address: str, keep: str | None
) -> None:
    """A user's own change: the current password first (throttled like a sign-in), then the
    new one; every other session of the user ends, `keep` (this browser's) stays."""
    assert actor.user_id is not None
    if len(new) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            "The password is too short.",
            errors=[field_error("new", "must be at least {n} characters", n=MIN_PASSWORD_LENGTH)],
        )
    async with db.read() as session:
        user = await session.get(User, actor.user_id)
    assert user is not None
    admission = await throttle.admit(db, user.username, address)
    ok = await asyncio.to_thread(verify_password, user.password_hash, current)
    digest = await asyncio.to_thread(hash_password, new) if ok else None
    async with db.write() as session:
        await throttle.settle(session, admission, ok)
        if digest is None:
            audit(session, actor, "user.password_change_failed", "user", actor.user_id)
        else:
            await session.execute(
                update(User).where(col(User.id) == actor.user_id).values(password_hash=digest)
            )
            audit(session, actor, "user.password_change", "user", actor.user_id)
            count = await end_user_sessions(session, actor.user_id, keep=keep)
            audit(session, actor, "session.end_others", "user", actor.user_id, count=count)
    if digest is None:
        raise Invalid(
            "The current password is wrong.",
            errors=[field_error("current", "The current password is wrong.")],
        )


async def end_sessions_of(db: Database, actor: Actor, user_id: int) -> int:
    """An admin signs a user out everywhere (a lost phone, a shared computer)."""
    policy.require(policy.administers(actor))
    async with db.write() as session:
        if await session.get(User, user_id) is None:
            raise NotFound(f"User {user_id} not found.")
        count = await end_user_sessions(session, user_id)
        audit(session, actor, "session.end_all", "user", user_id, reason="admin", count=count)
    return count


async def list_tokens(db: Database, actor: Actor) -> list[ApiToken]:
    """The actor's own tokens (never their secrets, which are not kept)."""
    async with db.read() as session:
        rows = await session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == actor.user_id)
            .order_by(col(ApiToken.id).desc())
        )
        return list(rows.all())


async def revoke_token(db: Database, actor: Actor, token_id: int) -> None:
    async with db.write() as session:
        token = await session.get(ApiToken, token_id)
        if token is None or (token.user_id != actor.user_id and not policy.administers(actor)):
            raise NotFound(f"Token {token_id} not found.")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit(session, actor, "token.revoke", "api_token", token_id)


async def list_audit(
    db: Database, actor: Actor, action: str | None, limit: int, offset: int
) -> Page[AuditEvent]:
    policy.require(policy.administers(actor))
    stmt = select(AuditEvent).order_by(col(AuditEvent.id).desc())
    if action:
        stmt = stmt.where(col(AuditEvent.action).startswith(action.strip(), autoescape=True))
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)
