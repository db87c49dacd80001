"""The rows a batch of reports is judged against and writes, as plain values.

Recording reports through ORM objects (an `Assignment` loaded and flushed, a `Report` built
and flushed for each press) was most of a batch of button presses' cost. The rules stay in
`reports.py`; this reads the batch's rows in three statements and writes it in two.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.base import table_of
from coordinator.campaigns.models import Assignment, Campaign, Report
from coordinator.organizations.models import Member


@dataclass
class Recorded:
    """A report as stored. Within a batch a new one gets its `id` at the batch's one INSERT."""

    assignment_id: int
    member_id: int
    content_item_id: int | None
    action: str
    proof_url: str | None
    source: str
    created_at: datetime
    id: int | None = None


ReportKey = tuple[int, int, str, int | None]  # assignment, member, action, content item


def key(report: Any) -> ReportKey:
    """A report request's or a stored report's identity: one report per key."""
    return (report.assignment_id, report.member_id, report.action, report.content_item_id)


TASK_STATE = ("status", "delivered_at", "acknowledged_at", "done_at", "declined_at", "expired_at")


@dataclass
class Task:
    """An assignment as a report moves it: plain values, written back in one UPDATE."""

    id: int
    campaign_id: int
    member_id: int | None
    group_chat_id: int | None
    status: str
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    done_at: datetime | None
    declined_at: datetime | None
    expired_at: datetime | None

    def state(self) -> tuple[object, ...]:
        return tuple(getattr(self, c) for c in TASK_STATE)


@dataclass(frozen=True)
class CampaignRow:
    id: int
    status: str
    deadline_at: datetime


@dataclass
class Loaded:
    """The rows a batch of reports is checked against, read once for the whole batch."""

    assignments: dict[int, Task]
    members: dict[int, Any]  # rows of MEMBER_COLUMNS
    campaigns: dict[int, CampaignRow]
    reports: dict[ReportKey, Recorded]
    loaded: dict[int, tuple[object, ...]] = field(default_factory=dict)  # task states as read
    new: list[Recorded] = field(default_factory=list)


A, R, C, M = (table_of(t) for t in (Assignment, Report, Campaign, Member))
_TASK_COLUMNS = ("id", "campaign_id", "member_id", "group_chat_id", *TASK_STATE)
_REPORT_COLUMNS = (
    "assignment_id",
    "member_id",
    "content_item_id",
    "action",
    "proof_url",
    "source",
    "created_at",
    "id",
)
MEMBER_COLUMNS = (M.c.id, M.c.organization_id, M.c.deactivated_at)


async def load(session: AsyncSession, task_ids: list[int], member_ids: Collection[int]) -> Loaded:
    """Plain rows, no ORM objects: building them was most of a batch of presses' cost."""
    # Lock the tasks, in id order so that two batches cannot deadlock: two presses at once must
    # not both pass the checks (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers).
    # Only the tasks: their campaigns come in the same statement but stay unlocked.
    rows = await session.execute(
        core_select(*(A.c[c] for c in _TASK_COLUMNS), C.c.status.label("c_status"), C.c.deadline_at)
        .join(C, C.c.id == A.c.campaign_id)
        .where(A.c.id.in_(task_ids))
        .order_by(A.c.id)
        .with_for_update(of=A)
    )
    assignments: dict[int, Task] = {}
    campaigns: dict[int, CampaignRow] = {}
    for row in rows:
        task = Task(*row[: len(_TASK_COLUMNS)])
        assignments[task.id] = task
        campaigns[task.campaign_id] = CampaignRow(task.campaign_id, row.c_status, row.deadline_at)
    members = {
        m.id: m
        for m in await session.execute(core_select(*MEMBER_COLUMNS).where(M.c.id.in_(member_ids)))
    }
    reports = await session.execute(
        core_select(*(R.c[c] for c in _REPORT_COLUMNS)).where(
            R.c.assignment_id.in_(task_ids), R.c.member_id.in_(member_ids)
        )
    )
    known: dict[ReportKey, Recorded] = {}
    for row in reports:
        report = Recorded(**row._mapping)
        known[key(report)] = report
    loaded = {t.id: t.state() for t in assignments.values()}
    return Loaded(assignments, members, campaigns, known, loaded)


async def write(session: AsyncSession, rows: Loaded) -> None:
    """The batch's new reports in one INSERT, and the tasks they moved in one UPDATE."""
    if rows.new:
        fields = _REPORT_COLUMNS[:-1]
        ids = await session.scalars(
            insert(R).returning(R.c.id, sort_by_parameter_order=True),
            [{f: getattr(r, f) for f in fields} for r in rows.new],
        )
        for report, report_id in zip(rows.new, ids, strict=True):
            report.id = report_id
    moved = [t for t in rows.assignments.values() if t.state() != rows.loaded[t.id]]
    if not moved:
        return
    # executemany (one prepared statement, one round trip on asyncpg), so the tally summary's
    # trigger sees one task per call. One UPDATE over `unnest` arrays ran PostgreSQL's
    # statement trigger once, but over transition tables planned without statistics: 297 ms for
    # 40 tasks on a fresh database (EXPLAIN ANALYZE), against ~1 ms for the same rows this way.
    await session.execute(
        update(A)
        .where(A.c.id == bindparam("task"))
        .values({c: bindparam(f"new_{c}") for c in TASK_STATE}),
        [{"task": t.id, **{f"new_{c}": getattr(t, c) for c in TASK_STATE}} for t in moved],
    )
