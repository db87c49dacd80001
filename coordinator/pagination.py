"""Offset pagination shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from coordinator.errors import Invalid, field_error

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def check_window(limit: int, offset: int) -> None:
    errors = []
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(field_error("limit", "must be between 1 and {n}", n=MAX_LIMIT))
    if offset < 0:
        errors.append(field_error("offset", "must not be negative"))
    if errors:
        raise Invalid("Bad pagination parameters.", errors=errors)


async def paginate(session: AsyncSession, stmt: Select[Any], limit: int, offset: int) -> Page[Any]:
    check_window(limit, offset)
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list((await session.scalars(stmt.limit(limit).offset(offset))).all())
    return Page(items=items, total=total or 0, limit=limit, offset=offset)
