"""The record of Telegram updates seen, and the one bot's state. (The outbox: `delivery`.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, utcnow


class TelegramUpdate(SQLModel, table=True):
    __tablename__ = "telegram_update"
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


class BotState(SQLModel, table=True):
    """The deployment's one bot as Telegram describes it, and how far its set-up got.

    One row (id 1), written by the process that runs the bot and read by every process, so that
    a web process that does not talk to Telegram still knows the bot's name for deep links.
    """

    __tablename__ = "bot_state"
    id: int = Field(default=1, primary_key=True)
    bot_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    username: str | None = Field(default=None, max_length=64)
    identity_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    commands_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    webhook_mode: str | None = Field(default=None, max_length=10)
    webhook_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
