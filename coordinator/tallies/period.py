"""Participation over a period, by organization (rolled up through the tree), by club and by
week: the numbers leadership asks for, read from the tally summary (tallies/summary.py, kept
by database triggers, recounted hourly) and honest about their base.

Definitions (the same on the status page, the dashboards and the exports):
- assigned: tasks given; delivered: all past `pending`; acknowledged: acknowledged or done;
- done, declined, expired: final statuses; unreachable: tasks whose member (or group chat)
  can no longer be reached in Telegram;
- participation rate = done / assigned. Clubs compare rates, never raw counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.collation import vi_key
from coordinator.db import Database
from coordinator.errors import Invalid
from coordinator.organizations.models import GroupChat, Member
from coordinator.organizations.tree import tree_lines
from coordinator.tallies.summary import organizations_and_clubs, period_lines


@dataclass
class Counts:
    assigned: int = 0
    delivered: int = 0
    acknowledged: int = 0
    done: int = 0
    declined: int = 0
    expired: int = 0
    unreachable: int = 0

    def add_status(self, status: str, count: int, unreachable: int) -> None:
        self.assigned += count
        self.delivered += 0 if status == "pending" else count
        self.acknowledged += count if status in ("acknowledged", "done") else 0
        if status in ("done", "declined", "expired"):
            setattr(self, status, getattr(self, status) + count)
        self.unreachable += unreachable

    @classmethod
    def of_summary(cls, values: Sequence[int]) -> Counts:
        """From a summary line's counts, in the order of `summary.COUNT_COLUMNS`: the six
        statuses, then unreachable."""
        pending, delivered, acknowledged, done, declined, expired, unreachable = values
        assigned = pending + delivered + acknowledged + done + declined + expired
        return cls(
            assigned, assigned - pending, acknowledged + done, done, declined, expired, unreachable
        )

    def add(self, other: Counts) -> None:
        # Spelled out: this runs once per summary line and roll-up step, thousands per tally.
        self.assigned += other.assigned
        self.delivered += other.delivered
        self.acknowledged += other.acknowledged
        self.done += other.done
        self.declined += other.declined
        self.expired += other.expired
        self.unreachable += other.unreachable

    @property
    def rate(self) -> float:
        return self.done / self.assigned if self.assigned else 0.0


COLUMNS = tuple(f.name for f in fields(Counts))


@dataclass
class Line:
    key: int
    name: str
    counts: Counts
    depth: int = 0
    parent: int | None = None
    previous_rate: float | None = None  # the same line in the period before, for trend arrows

    @property
    def trend(self) -> str:
        if self.previous_rate is None or not self.counts.assigned:
            return ""
        delta = self.counts.rate - self.previous_rate
        return "up" if delta > 0.02 else "down" if delta < -0.02 else "flat"


@dataclass
class PeriodTally:
    start: datetime
    end: datetime
    total: Counts
    organizations: list[Line]  # rolled up: each line counts its whole subtree
    clubs: list[Line]
    weeks: list[Line]  # key = week number, name = first day of the week
    campaigns: int = 0
    members: dict[int, int] = field(default_factory=dict)  # organization -> active members


def recipient_columns(mode: str) -> tuple[Any, Any, Any]:
    """(organization column, unreachable flag, join) for member or group-chat tasks."""
    if mode == "group":
        return (
            col(GroupChat.organization_id),
            col(GroupChat.unreachable_at).is_not(None),
            (GroupChat, col(GroupChat.id) == Assignment.group_chat_id),
        )
    return (
        col(Member.organization_id),
        col(Member.unreachable_at).is_not(None),
        (Member, col(Member.id) == Assignment.member_id),
    )


async def period_tally(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo
) -> PeriodTally:
    """Campaigns launched in [start, end) that the actor may see; leads get their subtree."""
    visible = scope.campaigns(
        actor,
        select(Campaign.id).where(
            col(Campaign.launched_at) >= start, col(Campaign.launched_at) < end
        ),
    )
    own = policy.own_subtree(actor)
    async with db.read() as session:
        campaigns, direct, by_week, clubs = _summed(
            (await session.execute(period_lines(visible))).all(), tz, own
        )
        named = (await session.execute(organizations_and_clubs())).all()
    org_rows = [row for row in named if row[3] is not None]
    club_rows = [row[:3] for row in named if row[3] is None]
    orgs = [(o, n, p) for o, n, p, _ in org_rows]
    members = {o: int(active) for o, _, _, active in org_rows if active}
    lines = rolled_up(orgs, direct, own)
    total = Counts()
    for org_id, counts in direct.items():
        if own is None or org_id in own:  # a lead's cards count what their table shows
            total.add(counts)
    club_lines = sorted(
        (
            Line(cid, name, clubs[cid])
            for cid, name, org_id in club_rows
            if cid in clubs and (own is None or org_id in own)
        ),
        key=lambda line: (-line.counts.rate, vi_key(line.name)),
    )
    weeks = [
        Line(key, _week_start(key, tz).strftime("%d/%m"), by_week.get(key, Counts()))
        for key in _weeks_of(start, end, tz)
    ]
    return PeriodTally(start, end, total, lines, club_lines, weeks, campaigns, members)


def _summed(
    rows: Sequence[Any], tz: ZoneInfo, own: frozenset[int] | None
) -> tuple[int, dict[int, Counts], dict[int, Counts], dict[int, Counts]]:
    """From `summary.period_lines`: (campaigns, by organization, by week, by club); the weeks
    count only `own` organizations' tasks (a lead's reach), like the totals.

    The lines are only grouped here and each group summed column-wise once (`_totals`): a
    `Counts` per line made this loop the tally's largest cost after reading the rows."""
    weeks_of: dict[int, int] = {}
    direct: dict[int, list[Sequence[int]]] = {}
    by_week: dict[int, list[Sequence[int]]] = {}
    clubs: dict[int, list[Sequence[int]]] = {}
    for row in rows:
        campaign_id, org_id, values = row[0], row[2], row[4:]
        if campaign_id is None:  # a club, summed over the period
            clubs[row[3]] = [values]
            continue
        week = weeks_of.get(campaign_id)
        if week is None:
            week = weeks_of[campaign_id] = _week_key(row[1], tz)
        if org_id is None:
            continue
        direct.setdefault(org_id, []).append(values)
        if own is None or org_id in own:
            by_week.setdefault(week, []).append(values)
    return len(weeks_of), _totals(direct), _totals(by_week), _totals(clubs)


def _totals(groups: dict[int, list[Sequence[int]]]) -> dict[int, Counts]:
    """Each group's lines summed into `Counts`; a group of empty lines is left out (counts are
    never negative, so a zero sum means every line was empty)."""
    out: dict[int, Counts] = {}
    for key, lines in groups.items():
        sums = [sum(column) for column in zip(*lines, strict=True)]
        if any(sums):
            out[key] = Counts.of_summary(sums)
    return out


class Addable(Protocol):
    def add(self, other: Any, /) -> None: ...


C = TypeVar("C", bound=Addable)


def roll_up(
    orgs: Iterable[tuple[int, str, int | None]],
    direct: dict[int, C],
    make: Callable[[], C],
    keep: frozenset[int] | set[int] | None = None,
) -> list[tuple[int, str, int, int | None, C]]:
    """(organization, name, depth, parent, totals) in tree order, each total including everything
    below it; `keep` limits the lines shown (a lead's subtree), not what is summed."""
    by_name = sorted(orgs, key=lambda org: vi_key(org[1]))
    names = {org_id: name for org_id, name, _ in by_name}
    lines = tree_lines((org_id, parent) for org_id, _, parent in by_name)
    totals = {line.id: make() for line in lines}
    for line in reversed(lines):  # children before their parents
        if line.id in direct:
            totals[line.id].add(direct[line.id])
        if line.parent_id is not None:
            totals[line.parent_id].add(totals[line.id])
    return [
        (line.id, names[line.id], line.depth, line.parent_id, totals[line.id])
        for line in lines
        if keep is None or line.id in keep
    ]


def rolled_up(
    orgs: Iterable[tuple[int, str, int | None]],
    direct: dict[int, Counts],
    keep: frozenset[int] | set[int] | None = None,
) -> list[Line]:
    return [
        Line(key, name, counts, depth, parent)
        for key, name, depth, parent, counts in roll_up(orgs, direct, Counts, keep)
    ]


def local_period(
    first: date | None, last: date | None, days: int | None, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """[start, end) for local dates `first`..`last` (both included); by default the `days` (30)
    days up to today. One day to one year."""
    last = last or datetime.now(tz).date()
    first = first or last - timedelta(days=(days or 30) - 1)
    if first > last or (last - first).days > 366:
        raise Invalid("Pick a period of one day to one year.")
    return datetime.combine(first, time(), tz), datetime.combine(
        last + timedelta(days=1), time(), tz
    )


def _week_key(moment: datetime | None, tz: ZoneInfo) -> int:
    """Monday-based week number since 2000-01-03 (a Monday), in local time."""
    local = (moment or datetime.now(tz)).astimezone(tz).date()
    return (local - datetime(2000, 1, 3).date()).days // 7


def _weeks_of(start: datetime, end: datetime, tz: ZoneInfo) -> range:
    """Every week the period [start, end) touches, empty ones too (the chart shows them as 0)."""
    return range(_week_key(start, tz), _week_key(end - timedelta(microseconds=1), tz) + 1)


def _week_start(key: int, tz: ZoneInfo) -> datetime:
    return datetime(2000, 1, 3, tzinfo=tz) + timedelta(weeks=key)


def with_trends(current: PeriodTally, previous: PeriodTally) -> PeriodTally:
    """Mark each line with the rate of the same line in the previous period."""
    before = {line.key: line.counts for line in previous.organizations}
    for line in current.organizations:
        if line.key in before and before[line.key].assigned:
            line.previous_rate = before[line.key].rate
    clubs_before = {line.key: line.counts for line in previous.clubs}
    for line in current.clubs:
        if line.key in clubs_before and clubs_before[line.key].assigned:
            line.previous_rate = clubs_before[line.key].rate
    return current
