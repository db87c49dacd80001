"""An import's writes as set-based statements: a few hundred statements for 100,000 rows
instead of several per row.

Why batches of rows per statement and not executemany: SQLAlchemy sends a list of parameter
sets without RETURNING as one statement per row, and PostgreSQL then fires the statement-level
count triggers (`member_tally_insert`, `tally_club_join`) once per row. Each firing updates
the organization's `member_tally` row, and a row updated N times in one transaction keeps N
versions that every later update walks past: the time per row grew with the rows already
written (115 µs a row at 10,000, 888 µs at 60,000; `bench/member_raw.py`). A statement of
1,000 rows fires each trigger once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import utcnow
from coordinator.organizations.models import Member, MemberClub

BATCH = 1000  # rows per statement: 5,000 parameters at most, under every driver's limit
MEMBER = Member.__table__  # type: ignore[attr-defined]
MEMBER_CLUB = MemberClub.__table__  # type: ignore[attr-defined]
T = TypeVar("T")


@dataclass(frozen=True)
class NewMember:
    organization_id: int
    display_name: str
    code: str | None
    locale: str


def batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def insert_members(session: AsyncSession, rows: Sequence[NewMember]) -> list[int]:
    """Insert the members, 1,000 to a statement; their ids in the order of `rows`."""
    now = utcnow()
    ids: list[int] = []
    for chunk in batches(rows):
        values = [
            {
                "organization_id": r.organization_id,
                "display_name": r.display_name,
                "code": r.code,
                "locale": r.locale,
                "created_at": now,
            }
            for r in chunk
        ]
        stmt = insert(MEMBER).values(values).returning(MEMBER.c.id)
        found = (await session.execute(stmt)).scalars().all()
        # RETURNING's order is promised by neither database; the ids are drawn in the order
        # of the VALUES rows (as SQLAlchemy's own sorted insertmanyvalues assumes), so
        # sorting them gives each row its id.
        ids += sorted(found)
    return ids


async def update_members(session: AsyncSession, rows: Sequence[tuple[int, str, str]]) -> None:
    """Set (id, display_name, locale) of known members."""
    stmt = (
        update(MEMBER)
        .where(MEMBER.c.id == bindparam("member_id"))
        .values(display_name=bindparam("name"), locale=bindparam("lang"))
    )
    for chunk in batches(rows):
        params = [{"member_id": i, "name": n, "lang": loc} for i, n, loc in chunk]
        await session.execute(stmt, params)


async def replace_clubs(
    session: AsyncSession, member_ids: Sequence[int], links: Iterable[tuple[int, int]]
) -> None:
    """Drop the club memberships of `member_ids`, then add the (member, club) `links`."""
    for chunk in batches(member_ids):
        await session.execute(delete(MEMBER_CLUB).where(MEMBER_CLUB.c.member_id.in_(chunk)))
    rows = sorted(set(links))
    for part in batches(rows):
        values = [{"member_id": m, "club_id": c} for m, c in part]
        await session.execute(insert(MEMBER_CLUB).values(values))


async def clubs_within(session: AsyncSession, organization_ids: Sequence[int]) -> dict[int, Any]:
    """Club ids of every member of the organizations: one query, not one parameter a member."""
    rows = await session.execute(
        select(MEMBER_CLUB.c.member_id, MEMBER_CLUB.c.club_id)
        .join(MEMBER, MEMBER.c.id == MEMBER_CLUB.c.member_id)
        .where(MEMBER.c.organization_id.in_(organization_ids))
    )
    found: dict[int, list[int]] = {}
    for member_id, club_id in rows:
        found.setdefault(member_id, []).append(club_id)
    return found
