"""The outbox: one row per message to send, the database being the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, one_of, utcnow

OUTBOX_STATUSES = ("pending", "sending", "sent", "uncertain", "failed", "cancelled")


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint(
            one_of("status", OUTBOX_STATUSES),
            name="status",
        ),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=120, unique=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=20)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    assignment_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("assignment.id"), nullable=True, index=True),
    )
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
