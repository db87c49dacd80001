"""Tables of the auth slice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
)
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, one_of, utcnow

ROLES = ("admin", "coordinator", "lead", "leadership")


class User(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        # A unique index, not a constraint: SQLite cannot add a UNIQUE column to a table.
        Index("uq_user_telegram_user_id", "telegram_user_id", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=12)
    organization_id: int = Field(
        sa_column=Column(Integer, ForeignKey("organization.id"), nullable=False, index=True)
    )
    locale: str = Field(default="vi", max_length=5)
    # The user's own Telegram, linked from the web for digests (leads, leadership); not a member.
    telegram_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")
    action: str = Field(max_length=40, index=True)
    object_type: str = Field(default="", max_length=40)
    object_id: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class UserTotp(SQLModel, table=True):
    """A user's authenticator app: the seed (encrypted with the deployment's secret key), when
    it was confirmed, and the last time step used, so that no code works twice."""

    __tablename__ = "user_totp"
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    )
    secret_encrypted: str = Field(max_length=255)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RecoveryCode(SQLModel, table=True):
    """One-time codes for a lost phone; only their digests are kept."""

    __tablename__ = "recovery_code"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    code_hash: str = Field(max_length=64, unique=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MfaRequiredRole(SQLModel, table=True):
    """Roles an admin has made a second factor compulsory for (admins always need one)."""

    __tablename__ = "mfa_required_role"
    role: str = Field(max_length=12, primary_key=True)


class WebSession(SQLModel, table=True):
    """A browser session kept server-side, so that any web process serves any user. The cookie
    holds a random id; the row keeps only its SHA-256 digest (a database read yields no live
    cookie). `user_id` lets a user's sessions be listed and ended together."""

    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    user_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    user_agent: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=45)


class SignInAttempt(SQLModel, table=True):
    """One password tried for `username` from `address` (an IPv6 address as its /64). Written
    before the password is checked (`ok` NULL), so concurrent guesses count against each other;
    rows older than the longest window are purged as new ones arrive."""

    __tablename__ = "signin_attempt"
    __table_args__ = (
        Index("ix_signin_attempt_username_at", "username", "at"),
        Index("ix_signin_attempt_address_at", "address", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    username: str = Field(max_length=64)
    address: str = Field(max_length=45)
    ok: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
