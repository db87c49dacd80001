"""Shared model plumbing: metadata naming convention, UTC timestamps, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# Our keys are `integer` columns: no id outside this range can name a row.
MAX_ROW_ID = 2**31 - 1

# Stable constraint names so that Alembic can alter and drop them on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint that keeps `column` to the allowed values."""
    return f"{column} IN ({','.join(repr(v) for v in values)})"


def table_of(model: Any) -> Table:
    """A table model's `Table`, for core statements over plain rows (no ORM objects)."""
    table: Table = model.__table__
    return table


def row_id(row: SQLModel) -> int:
    """The primary key of a row that has been flushed (typed as int, not int | None)."""
    value = getattr(row, "id", None)
    if value is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet; flush first")
    return int(value)


def plain_digits(text: str, most: int = 18) -> bool:
    """Only ASCII digits, at most `most` of them: what `int()` may safely be given from a form.
    `str.isdigit()` is true of "²", which `int()` refuses, and `int()` refuses more than 4,300
    digits; 18 digits always fit a signed 64-bit column."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()
