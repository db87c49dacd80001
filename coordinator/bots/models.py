"""The record of Telegram updates seen, and the deployment's bots. (The outbox: `delivery`.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, utcnow
from coordinator.delivery.models import DEFAULT_BOT


class TelegramUpdate(SQLModel, table=True):
    __tablename__ = "telegram_update"
    # Update ids are counted per bot: two bots' update 1 are two updates.
    bot_id: int = Field(
        default=DEFAULT_BOT,
        sa_column=Column(Integer, primary_key=True, autoincrement=False, server_default="1"),
    )
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # An update that could not be handled: kept with why, and never tried again.
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=Text)

    @property
    def status(self) -> str:
        if self.failed_at is not None:
            return "failed"
        return "processed" if self.processed_at is not None else "received"


class BotRecord(SQLModel, table=True):
    """One bot of the deployment as Telegram describes it, and how far its set-up got.

    Id 1 is the default bot (COORDINATOR_TELEGRAM_TOKEN), serving every organization no other
    bot serves; the others (COORDINATOR_TELEGRAM_BOTS) each serve `organization_id`'s subtree.
    Written by the process that runs the bot and read by every process, so that a web process
    that does not talk to Telegram still knows each bot's name for deep links. The token is
    never stored: it stays in the settings, like every secret.
    """

    __tablename__ = "bot"
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    name: str = Field(max_length=32, unique=True)
    # The root of the subtree it serves; None for the default bot and for a bot no longer
    # configured (it then serves nothing new, and what is queued for it waits).
    organization_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("organization.id"), nullable=True, unique=True),
    )
    bot_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    username: str | None = Field(default=None, max_length=64)
    identity_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    commands_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    webhook_mode: str | None = Field(default=None, max_length=10)
    webhook_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
