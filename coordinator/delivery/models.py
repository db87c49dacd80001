"""The outbox: one row per message to send, the database being the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, one_of, utcnow

OUTBOX_STATUSES = ("pending", "sending", "sent", "uncertain", "failed", "cancelled")
# The deployment's default bot (COORDINATOR_TELEGRAM_TOKEN). A bot id here is a plain number,
# without a foreign key, so that the default bot needs no row for its chats and messages.
DEFAULT_BOT = 1


def resent_card(dialect: str, table: str = "") -> str:
    """A task card sent again after an uncertain send: the reaper marks it `"resent": true` in
    the payload (delivery/store.py `reap`). Literal SQL per dialect, because a partial index is
    used only when the query repeats its predicate (on SQLite, without bound parameters);
    `table` qualifies the columns in a join."""
    payload = f"{table}.payload" if table else "payload"
    if dialect == "sqlite":
        return f"json_extract({payload}, '$.resent') = 1"
    return f"({payload} ->> 'resent') = 'true'"


def troubled_card(dialect: str, table: str = "") -> str:
    """The task cards whose delivery the status page reports (uncertain, or resent): few, so
    the partial index `ix_outbox_troubled` over them keeps those figures off campaign size."""
    p = f"{table}." if table else ""
    resent = resent_card(dialect, table)
    return f"{p}kind = 'assignment' AND ({p}status = 'uncertain' OR {resent})"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint(
            one_of("status", OUTBOX_STATUSES),
            name="status",
        ),
        # Each bot's due rows in claim order (next_attempt_at, id): a claim stops at its limit.
        Index("ix_outbox_due", "status", "bot_id", "next_attempt_at", "id"),
        Index(
            "ix_outbox_troubled",
            "assignment_id",
            sqlite_where=text(troubled_card("sqlite")),
            postgresql_where=text(troubled_card("postgresql")),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=120, unique=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The bot that sends it: the one the chat talks to (`BotChat`), filled by the queue.
    bot_id: int = Field(
        default=DEFAULT_BOT, sa_column=Column(Integer, nullable=False, server_default="1")
    )
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


class BotChat(SQLModel, table=True):
    """Which bot a chat talks to, when it is not the default bot. Chats are per bot: a
    volunteer who started bot A can be messaged by bot A only. Written when a chat is linked
    (an invite, a group registered, a lead's digests connected) and read by the queue."""

    __tablename__ = "bot_chat"
    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    bot_id: int = Field(sa_column=Column(Integer, nullable=False))


class CardBacklog(SQLModel, table=True):
    """Task cards of a launch not queued yet: those of `campaign_id`'s tasks with ids in
    (`after_id`, `last_id`]. A launch queues its first chunk of cards and leaves the rest
    here; the senders queue the next chunk whenever a lease comes up short
    (`backlog.top_up`), so a national launch does not write 900,000 outbox rows in its
    transaction. One row per launch (a campaign launched again while its first cards still
    wait has two); the row goes when the cursor reaches `last_id`."""

    __tablename__ = "card_backlog"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("campaign.id"), nullable=False, index=True)
    )
    # Who selects the cards (`backlog.card_source`): the slice that owns the tasks.
    source: str = Field(max_length=20)
    after_id: int  # every task of this launch up to this id has its card queued
    last_id: int  # the launch's last task
    # The launch: the cards keep the place in the queue (next_attempt_at) they had then.
    due: datetime = Field(sa_type=UTCDateTime, nullable=False)
