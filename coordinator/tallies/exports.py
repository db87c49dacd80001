"""CSV and XLSX exports, streamed: leadership gets aggregates only ("<5" for small counts);
coordinators, leads and admins get their own people's names, through the scoping helper."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.campaigns.models import Assignment
from coordinator.db import Database
from coordinator.i18n import translate
from coordinator.organizations.models import GroupChat, Member, Organization
from coordinator.tallies.period import COLUMNS, aggregate_row, export_rows, period_tally
from coordinator.tallies.service import campaign_breakdown

BATCH = 2_000
LABELS = {
    "organization": "Organization",
    "assigned": "assigned",
    "delivered": "delivered",
    "acknowledged": "acknowledged",
    "done": "done",
    "declined": "declined",
    "expired": "expired",
    "unreachable": "unreachable",
    "rate": "Rate",
    "name": "Name",
    "code": "Code",
    "status": "Status",
    "delivered_at": "Delivered at",
    "done_at": "Done at",
}


def header(lang: str, names: Sequence[str]) -> list[str]:
    return [translate(lang, LABELS[n]) for n in names]


async def period_export(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo, lang: str
) -> tuple[list[str], list[list[Any]]]:
    tally = await period_tally(db, actor, start, end, tz)
    names = ["organization", *COLUMNS, "rate"]
    return header(lang, names), list(export_rows(tally, actor.role == "leadership"))


async def campaign_export(
    db: Database, actor: Actor, campaign_id: int, tz: ZoneInfo, lang: str
) -> tuple[list[str], AsyncIterator[list[Any]]]:
    """Leadership: one aggregate row per organization. Everyone else: one row per task of the
    people they may see (the scoping helper filters), streamed from the database in batches."""
    if actor.role == "leadership":
        breakdown = await campaign_breakdown(db, actor, campaign_id)
        rows = [aggregate_row(line.name, line.counts, True) for line in breakdown.by_organization]
        return header(lang, ["organization", *COLUMNS, "rate"]), rows_of(rows)
    async with db.read() as session:
        await scope.visible_campaign(session, actor, campaign_id)
    names = ["organization", "name", "code", "status", "delivered_at", "done_at"]
    return header(lang, names), _task_rows(db, actor, campaign_id, tz, lang)


async def rows_of(rows: Iterable[list[Any]]) -> AsyncIterator[list[Any]]:
    for row in rows:
        yield row


async def _task_rows(
    db: Database, actor: Actor, campaign_id: int, tz: ZoneInfo, lang: str
) -> AsyncIterator[list[Any]]:
    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    query: Any = select(Assignment, Member, GroupChat)
    stmt = scope.assignments(
        actor,
        query.outerjoin(Member, col(Member.id) == Assignment.member_id)
        .outerjoin(GroupChat, col(GroupChat.id) == Assignment.group_chat_id)
        .where(Assignment.campaign_id == campaign_id)
        .order_by(col(Assignment.id)),
    )
    async with db.read() as session:
        org_names: dict[int, str] = dict(
            (await session.execute(select(Organization.id, Organization.name))).all()
        )
        result = await session.stream(stmt.execution_options(yield_per=BATCH))
        async for task, member, group in result:
            if member is not None:
                org, name, code = (
                    org_names.get(member.organization_id, ""),
                    member.display_name,
                    member.code,
                )
            else:
                org, name, code = org_names.get(group.organization_id, ""), group.title, ""
            status = translate(lang, task.status)
            yield [org, name, code or "", status, when(task.delivered_at), when(task.done_at)]


async def csv_stream(head: list[str], rows: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark, so that Excel opens Vietnamese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(head)
    yield ("\ufeff" + buffer.getvalue()).encode()
    count = 0
    async for row in rows:
        writer.writerow(row)
        count += 1
        if count % 500 == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


async def xlsx_stream(
    head: list[str], rows: AsyncIterator[list[Any]], title: str
) -> AsyncIterator[bytes]:
    """openpyxl's write-only mode keeps memory flat; the finished file streams from disk."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "Export")
    sheet.append(head)
    async for row in rows:
        sheet.append(row)
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        while chunk := handle.read(256 * 1024):
            yield chunk
