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

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import utcnow
from coordinator.organizations.models import Member, MemberClub

BATCH = 1000  # ids per DELETE
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
    """Insert the members; their ids in the order of `rows`."""
    if not rows:
        return []
    now = utcnow()
    values = [
        {
            "organization_id": r.organization_id,
            "display_name": r.display_name,
            "code": r.code,
            "locale": r.locale,
            "created_at": now,
        }
        for r in rows
    ]
    # With RETURNING, SQLAlchemy sends a list of rows as multi-row VALUES statements
    # ("insertmanyvalues", 1,000 rows each) from one cached compilation. (`.values(list)`
    # compiles every batch anew, 0.3 s each; `sort_by_parameter_order` goes back to one row a
    # statement on SQLite.) RETURNING's order is promised by neither database, but each
    # database draws the ids in the order of the rows, batch after batch, as SQLAlchemy's own
    # sorting assumes on PostgreSQL: sorted, the ids are the rows'.
    stmt = insert(MEMBER).returning(MEMBER.c.id)
    return sorted((await session.execute(stmt, values)).scalars().all())


# One UPDATE for every renamed member on PostgreSQL: one row a statement would fire the
# statement-level triggers on `member` once per member (6.5 s of server time at 100,000).
PG_RENAME = text(
    "UPDATE member SET display_name = v.name, locale = v.lang "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:names AS text[]), CAST(:langs AS text[])) "
    "AS v(id, name, lang) WHERE member.id = v.id"
)


async def update_members(session: AsyncSession, rows: Sequence[tuple[int, str, str]]) -> None:
    """Set (id, display_name, locale) of known members."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        ids, names, langs = (list(c) for c in zip(*rows, strict=True))
        await session.execute(PG_RENAME, {"ids": ids, "names": names, "langs": langs})
        return
    # SQLite's triggers are per row whatever the statement, and its executemany is a C loop.
    stmt = (
        update(MEMBER)
        .where(MEMBER.c.id == bindparam("member_id"))
        .values(display_name=bindparam("name"), locale=bindparam("lang"))
    )
    params = [{"member_id": i, "name": n, "lang": loc} for i, n, loc in rows]
    await session.execute(stmt, params)


async def replace_clubs(
    session: AsyncSession, member_ids: Sequence[int], links: Iterable[tuple[int, int]]
) -> None:
    """Drop the club memberships of `member_ids`, then add the (member, club) `links`."""
    for chunk in batches(member_ids):
        await session.execute(delete(MEMBER_CLUB).where(MEMBER_CLUB.c.member_id.in_(chunk)))
    rows = [{"member_id": m, "club_id": c} for m, c in sorted(set(links))]
    if rows:
        # RETURNING only to have the rows sent 1,000 to a statement (see insert_members):
        # without it they go one statement each, and PostgreSQL fires tally_club_join per row.
        stmt = insert(MEMBER_CLUB).returning(MEMBER_CLUB.c.member_id)
        (await session.execute(stmt, rows)).all()


async def clubs_within(
    session: AsyncSession, organization_ids: Collection[int]
) -> dict[int, list[int]]:
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


async def known_members(session: AsyncSession, organization_ids: Collection[int]) -> Sequence[Any]:
    """Members of the organizations as plain rows (id, organization_id, display_name, code,
    locale), not ORM objects: a province holds 100,000 members and more."""
    m = MEMBER.c
    stmt = select(m.id, m.organization_id, m.display_name, m.code, m.locale).where(
        m.organization_id.in_(organization_ids)
    )
    return (await session.execute(stmt)).all()
