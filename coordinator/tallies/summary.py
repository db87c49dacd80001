"""The tally summary read, and its exact recount: a GROUP BY over the raw rows compared with
the summary in one statement (one snapshot), every difference repaired and reported.

The triggers of alembic revision 0010 keep the summary; nothing in Python writes it except
the repair here. A repair adds the difference rather than setting the value, so a change
committed by another transaction while the recount runs is kept: its trigger moved both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, Table, and_, case, delete, func, literal, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite

from coordinator.base import UTCDateTime
from coordinator.campaigns.models import ASSIGNMENT_STATUSES, Assignment, Campaign
from coordinator.db import Database
from coordinator.organizations.models import Club, GroupChat, Member, MemberClub, Organization
from coordinator.tallies.models import ORGANIZATION_LINE, MemberTally, TallySummary

logger = logging.getLogger("coordinator.tallies")
COUNT_COLUMNS = (*ASSIGNMENT_STATUSES, "unreachable")
KEY_COLUMNS = ("campaign_id", "organization_id", "club_id")


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


T = _table(TallySummary).c


def summary_lines(campaigns: Any) -> Select[Any]:
    """The summary lines of the campaigns in `campaigns` (ids or a subquery of ids):
    campaign, organization, club (`ORGANIZATION_LINE` for the organization's own), counts."""
    return sa_select(*(T[c] for c in KEY_COLUMNS), *(T[c] for c in COUNT_COLUMNS)).where(
        T.campaign_id.in_(campaigns)
    )


def launched_lines(campaigns: Any) -> Select[Any]:
    """Each campaign in `campaigns` with its launch and its summary lines (organization, club,
    counts), one row per line; a campaign without lines comes once, with None for the rest."""
    campaign = _table(Campaign)
    return (
        sa_select(
            campaign.c.id,
            campaign.c.launched_at,
            *(T[c] for c in KEY_COLUMNS[1:]),
            *(T[c] for c in COUNT_COLUMNS),
        )
        .select_from(campaign.outerjoin(_table(TallySummary), T.campaign_id == campaign.c.id))
        .where(campaign.c.id.in_(campaigns))
    )


def period_lines(campaigns: Any) -> Any:
    """What a period tally reads, in one round trip: each campaign in `campaigns` with its
    launch and its organization lines (as `launched_lines`, club `ORGANIZATION_LINE`), then
    one row per club with its lines summed over those campaigns (campaign and launch None).
    Clubs are summed by the database because a tally shows them only per period."""
    campaign = _table(Campaign)
    lines = (
        sa_select(
            campaign.c.id,
            campaign.c.launched_at,
            *(T[c] for c in KEY_COLUMNS[1:]),
            *(T[c] for c in COUNT_COLUMNS),
        )
        .select_from(
            campaign.outerjoin(
                _table(TallySummary),
                and_(T.campaign_id == campaign.c.id, T.club_id == ORGANIZATION_LINE),
            )
        )
        .where(campaign.c.id.in_(campaigns))
    )
    clubs = (
        sa_select(
            literal(None, Integer),
            literal(None, UTCDateTime),
            literal(None, Integer),
            T.club_id,
            *(func.sum(T[c]) for c in COUNT_COLUMNS),
        )
        .where(T.campaign_id.in_(campaigns), T.club_id != ORGANIZATION_LINE)
        .group_by(T.club_id)
    )
    return union_all(lines, clubs)


def organizations_with_members() -> Select[Any]:
    """(organization, name, parent, active members) for every organization."""
    org, kept = _table(Organization), _table(MemberTally)
    return sa_select(
        org.c.id, org.c.name, org.c.parent_id, func.coalesce(kept.c.active, 0)
    ).select_from(org.outerjoin(kept, kept.c.organization_id == org.c.id))


def organizations_and_clubs() -> Any:
    """`organizations_with_members` rows, then (club, name, its organization, None) for every
    club: one round trip for the names a tally puts on its lines."""
    club = _table(Club)
    clubs = sa_select(club.c.id, club.c.name, club.c.organization_id, literal(None))
    return union_all(organizations_with_members(), clubs)


def by_status_of(campaigns: Any, within: frozenset[int] | None = None) -> Select[Any]:
    """(campaign, count per status in ASSIGNMENT_STATUSES order) of the campaigns; `within`:
    only the tasks of these organizations (a lead's own reach)."""
    stmt = sa_select(T.campaign_id, *(func.sum(T[s]) for s in ASSIGNMENT_STATUSES)).where(
        T.campaign_id.in_(campaigns), T.club_id == ORGANIZATION_LINE
    )
    if within is not None:
        stmt = stmt.where(T.organization_id.in_(within))
    return stmt.group_by(T.campaign_id)


def _facts() -> Any:
    """Every task once per line it counts in: (key, status, unreachable 0/1)."""
    tasks, members, groups, clubs = map(_table, (Assignment, Member, GroupChat, MemberClub))
    a, m, g, mc = tasks.c, members.c, groups.c, clubs.c
    m_u = case((m.unreachable_at.is_not(None), 1), else_=0)
    g_u = case((g.unreachable_at.is_not(None), 1), else_=0)
    org = literal(ORGANIZATION_LINE)
    by_member = tasks.join(members, m.id == a.member_id)
    by_group = tasks.join(groups, g.id == a.group_chat_id)
    by_club = by_member.join(clubs, mc.member_id == m.id)
    parts = [
        sa_select(a.campaign_id, m.organization_id, org, a.status, m_u).select_from(by_member),
        sa_select(a.campaign_id, m.organization_id, mc.club_id, a.status, m_u).select_from(by_club),
        sa_select(a.campaign_id, g.organization_id, org, a.status, g_u).select_from(by_group),
        sa_select(a.campaign_id, g.organization_id, g.club_id, a.status, g_u)
        .select_from(by_group)
        .where(g.club_id.is_not(None)),
    ]
    return union_all(*parts).subquery("facts")


def _differences() -> Select[Any]:
    """Lines where the raw rows and the summary disagree: key and (raw - summary) per count."""
    facts = _facts()
    key = list(facts.c)[:3]
    status, unreachable = list(facts.c)[3:]
    exact = sa_select(
        *(k.label(n) for k, n in zip(key, KEY_COLUMNS, strict=True)),
        *(func.sum(case((status == s, 1), else_=0)).label(s) for s in ASSIGNMENT_STATUSES),
        func.sum(unreachable).label("unreachable"),
    ).group_by(*key)
    seen = sa_select(*(T[c] for c in KEY_COLUMNS), *(-T[c] for c in COUNT_COLUMNS))
    both = union_all(exact, seen).subquery("both")
    sums = [func.sum(both.c[c]) for c in COUNT_COLUMNS]
    return (
        sa_select(*(both.c[k] for k in KEY_COLUMNS), *sums)
        .group_by(*(both.c[k] for k in KEY_COLUMNS))
        .having(or_(*(s != 0 for s in sums)))
    )


def _member_differences() -> Select[Any]:
    """Organizations whose active member count disagrees: (organization, raw - kept)."""
    m, kept = _table(Member).c, _table(MemberTally).c
    exact = (
        sa_select(m.organization_id, func.count().label("active"))
        .where(m.deactivated_at.is_(None))
        .group_by(m.organization_id)
    )
    both = union_all(exact, sa_select(kept.organization_id, -kept.active)).subquery("both")
    off = func.sum(both.c.active)
    return sa_select(both.c.organization_id, off).group_by(both.c.organization_id).having(off != 0)


@dataclass
class DriftLine:
    campaign_id: int | None  # None: the organization's active member count (member_tally)
    organization_id: int
    club_id: int
    off_by: dict[str, int]  # count -> raw minus summary, only the counts that differed

    def __str__(self) -> str:
        offs = ", ".join(f"{name} {delta:+d}" for name, delta in self.off_by.items())
        if self.campaign_id is None:
            return f"members of organization {self.organization_id}: {offs}"
        return (
            f"campaign {self.campaign_id} organization {self.organization_id} "
            f"club {self.club_id or '-'}: {offs}"
        )


@dataclass
class DriftReport:
    lines: list[DriftLine] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.lines)


async def recount_summary(db: Database) -> DriftReport:
    """Recount every line exactly, repair the summary where it drifted, and report the drift."""
    async with db.read() as session:
        rows = (await session.execute(_differences())).all()
        members = (await session.execute(_member_differences())).all()
    report = DriftReport(
        [
            DriftLine(
                int(row[0]),
                int(row[1]),
                int(row[2]),
                {c: int(v) for c, v in zip(COUNT_COLUMNS, row[3:], strict=True) if v},
            )
            for row in rows
        ]
    )
    moved = [DriftLine(None, int(org), 0, {"active": int(off)}) for org, off in members]
    async with db.write() as session:
        for start in range(0, len(report.lines), 1000):  # bounded statements
            await session.execute(_repair(db.dialect, report.lines[start : start + 1000]))
        for line in moved:
            await session.execute(_repair_members(db.dialect, line))
        await session.execute(delete(TallySummary).where(and_(*(T[c] == 0 for c in COUNT_COLUMNS))))
    report.lines += moved
    for line in report.lines:
        logger.warning("tally summary drift repaired: %s", line)
    return report


def _repair(dialect: str, lines: Sequence[DriftLine]) -> Any:
    """Add each line's difference to the summary (inserting lines the summary lacks)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [
        {
            "campaign_id": line.campaign_id,
            "organization_id": line.organization_id,
            "club_id": line.club_id,
            **{c: line.off_by.get(c, 0) for c in COUNT_COLUMNS},
        }
        for line in lines
    ]
    stmt = insert(TallySummary).values(values)
    return stmt.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={c: T[c] + stmt.excluded[c] for c in COUNT_COLUMNS},
    )


def _repair_members(dialect: str, line: DriftLine) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(MemberTally).values(
        organization_id=line.organization_id, active=line.off_by["active"]
    )
    kept = _table(MemberTally).c
    return stmt.on_conflict_do_update(
        index_elements=["organization_id"], set_={"active": kept.active + stmt.excluded.active}
    )
