"""CSV and XLSX exports, streamed: leadership gets aggregates only ("<5" for small counts);
coordinators, leads and admins get their own people's names, through the scoping helper.

Every export is a list of tables whose columns have a kind, so each format writes a value the
way a spreadsheet reads it: counts as integers, rates as numbers (a percent format in XLSX),
times as real local datetimes, and anything a person typed as text that never runs as a formula
(OWASP CSV injection). Every export is written to the audit log before its first byte."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.campaigns.models import Assignment, Report
from coordinator.db import Database
from coordinator.i18n import translate
from coordinator.organizations.models import GroupChat, Member, Organization
from coordinator.sheets import csv_text, formula_like
from coordinator.tallies.cascade import cascade_figures, response_rows
from coordinator.tallies.figures import breakdown_figures, period_figures
from coordinator.tallies.masked import Figures, masked
from coordinator.tallies.period import COLUMNS, Counts

BATCH = 2_000
SHEET_TITLE_MAX = 31  # Excel's limit
SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # XML 1.0 cannot hold these
WIDTH_SAMPLE = 200  # rows measured for column widths before the rest streams through
WIDTH_MAX = 60
TIME_FORMATS = {"vi": "dd/mm/yyyy hh:mm", "en": "yyyy-mm-dd hh:mm"}
NUMBER_FORMATS = {"rate": "0.0%", "minutes": "0.0"}  # minutes are numbers: sums work in a sheet


@dataclass(frozen=True)
class Column:
    label: str  # the header's message id
    kind: str = "text"  # text | count | rate | time | minutes


@dataclass
class Table:
    title: str  # the sheet's name, already translated
    columns: Sequence[Column]
    rows: AsyncIterator[list[Any]]


@dataclass
class Export:
    what: str  # "campaign" | "participation", for the audit log
    filename: str
    tables: list[Table]
    rows: int  # counted before the first byte, for the audit log
    object_id: int | None = None
    period: tuple[str, str] | None = None


COUNT_COLUMNS = [Column(name, "count") for name in COLUMNS]
RATE = Column("Rate (%)", "rate")
TASK_COLUMNS = [
    Column("Organization"),
    Column("Name"),
    Column("Code"),
    Column("Status"),
    Column("Delivered at", "time"),
    Column("Acknowledged at", "time"),
    Column("Done at", "time"),
    Column("Proof links"),
]
# A campaign delivered through organizations: each organization's response times.
RESPONSE_COLUMNS = [
    Column("Organization"),
    Column("Level", "count"),
    Column("Status"),
    Column("Received at", "time"),
    Column("Passed on at", "time"),
    Column("Passed on how"),
    Column("Reason"),
    Column("Minutes to received", "minutes"),
    Column("Minutes to passed on", "minutes"),
    Column("reached", "count"),
    Column("done", "count"),
]


def header(lang: str, columns: Sequence[Column]) -> list[str]:
    return [translate(lang, column.label) for column in columns]


def count_row(name: str, c: Counts | Figures, small_hidden: bool = False) -> list[Any]:
    """One aggregate line: name, the counts of COLUMNS and the rate (a fraction, None with no
    base). Figures come masked (tallies/masked.py): "<5", and no rate next to a masked count."""
    figures = c if isinstance(c, Figures) else Figures.of(c, small_hidden)
    values: list[Any] = [str(v) if masked(v) else v for v in figures.values()]
    return [name, *values, figures.rate if figures.assigned else None]


async def period_export(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo, lang: str
) -> Export:
    """The period by organization (rolled up through the tree; its level, 0 at the top) and by
    club, one sheet each; a CSV carries one of them."""
    tally = await period_figures(db, actor, start, end, tz)
    orgs = [
        [line.name, line.depth, *count_row("", line.counts)[1:]] for line in tally.organizations
    ]
    clubs = [count_row(line.name, line.counts) for line in tally.clubs]
    first, last = start.astimezone(tz).date(), (end.astimezone(tz) - timedelta(days=1)).date()
    tables = [
        Table(
            translate(lang, "Organizations"),
            [Column("Organization"), Column("Level", "count"), *COUNT_COLUMNS, RATE],
            rows_of(orgs),
        ),
        Table(translate(lang, "Clubs"), [Column("Club"), *COUNT_COLUMNS, RATE], rows_of(clubs)),
    ]
    return Export(
        "participation",
        f"participation-{first}-{last}",
        tables,
        len(orgs) + len(clubs),
        period=(first.isoformat(), last.isoformat()),
    )


async def campaign_export(
    db: Database, actor: Actor, campaign_id: int, tz: ZoneInfo, lang: str
) -> Export:
    """Leadership: one aggregate row per organization. Everyone else: one row per task of the
    people they may see (the scoping helper filters), streamed from the database in batches."""
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
    if not policy.sees_names(actor):
        breakdown = await breakdown_figures(db, actor, campaign_id)
        rows = [count_row(line.name, line.counts) for line in breakdown.by_organization]
        columns = [Column("Organization"), *COUNT_COLUMNS, RATE]
        table = Table(translate(lang, "Organizations"), columns, rows_of(rows))
        export = Export("campaign", f"campaign-{campaign_id}", [table], len(rows), campaign_id)
    else:
        async with db.read() as session:
            count = await session.scalar(
                scope.assignments(
                    actor,
                    select(func.count())
                    .select_from(Assignment)
                    .where(Assignment.campaign_id == campaign_id),
                )
            )
        table = Table(campaign.title, TASK_COLUMNS, _task_rows(db, actor, campaign_id, lang))
        export = Export("campaign", f"campaign-{campaign_id}", [table], count or 0, campaign_id)
    if campaign.delivery_mode == "org":
        responses = response_rows(await cascade_figures(db, actor, campaign_id), lang)
        title = translate(lang, "Response times")
        export.tables.append(Table(title, RESPONSE_COLUMNS, rows_of(responses)))
        export.rows += len(responses)
    return export


async def rows_of(rows: Iterable[list[Any]]) -> AsyncIterator[list[Any]]:
    for row in rows:
        yield row


def _proof_links() -> Any:
    """The task's proof links, space-separated (a URL holds no space)."""
    return (
        select(func.aggregate_strings(col(Report.proof_url), " "))
        .where(Report.assignment_id == Assignment.id, col(Report.proof_url).is_not(None))
        .scalar_subquery()
    )


async def _task_rows(
    db: Database, actor: Actor, campaign_id: int, lang: str
) -> AsyncIterator[list[Any]]:
    query: Any = select(Assignment, Member, GroupChat, _proof_links())
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
        async for task, member, group, proofs in result:
            person = member or group  # a task goes to a member or to a group chat
            org = org_names.get(person.organization_id, "")
            name, code = (member.display_name, member.code or "") if member else (group.title, "")
            times = [task.delivered_at, task.acknowledged_at, task.done_at]
            yield [org, name, code, translate(lang, task.status), *times, proofs or ""]


# ---- writing ---------------------------------------------------------------------------------


async def record_export(db: Database, actor: Actor, export: Export, fmt: str) -> None:
    """Who exported what, in which format, how many rows: never the rows themselves."""
    detail: dict[str, Any] = {"export": export.what, "format": fmt, "rows": export.rows}
    if export.period:
        detail["start"], detail["end"] = export.period
    async with db.write() as session:
        audit(
            session,
            actor,
            f"export.{export.what}",
            "campaign" if export.object_id is not None else "",
            export.object_id,
            **detail,
        )


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A naive local time to the second: spreadsheets hold no time zone."""
    if moment is None:
        return None
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def csv_value(kind: str, value: Any, tz: ZoneInfo) -> Any:
    if value is None:
        return ""
    if kind == "time":
        local = _local(value, tz)
        return local.isoformat(sep=" ") if local else ""
    if kind == "rate":
        return round(value * 100, 1)
    if kind == "text" or isinstance(value, str):
        return csv_text(str(value))
    return value


async def csv_stream(table: Table, lang: str, tz: ZoneInfo) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark, so that Excel opens Vietnamese text correctly; one header
    row, then the rows in chunks of 500."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(lang, table.columns))
    yield ("\ufeff" + _drain(buffer)).encode()
    kinds = [column.kind for column in table.columns]
    count = 0
    async for row in table.rows:
        writer.writerow([csv_value(k, v, tz) for k, v in zip(kinds, row, strict=True)])
        count += 1
        if count % 500 == 0:
            yield _drain(buffer).encode()
    yield _drain(buffer).encode()


def _drain(buffer: io.StringIO) -> str:
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def sheet_title(text: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in its workbook:
    shortened at a word with an ellipsis, then numbered if it would repeat another."""
    clean = " ".join(SHEET_TITLE_FORBIDDEN.sub(" ", ILLEGAL_XML.sub("", text)).split())
    clean = clean.strip("'") or "Export"
    title, number = _shorten(clean, SHEET_TITLE_MAX), 1
    while title.lower() in taken:
        number += 1
        suffix = f" ({number})"
        title = _shorten(clean, SHEET_TITLE_MAX - len(suffix)) + suffix
    taken.add(title.lower())
    return title


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"


async def xlsx_stream(
    export: Export, lang: str, tz: ZoneInfo, title: str = ""
) -> AsyncIterator[bytes]:
    """openpyxl's write-only mode keeps memory flat; the finished file streams from disk."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    book.properties.title = title or export.filename
    taken: set[str] = set()
    for table in export.tables:
        await _write_sheet(book, table, sheet_title(table.title, taken), lang, tz)
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        while chunk := handle.read(256 * 1024):
            yield chunk


async def _write_sheet(book: Any, table: Table, title: str, lang: str, tz: ZoneInfo) -> None:
    """A frozen header row and widths measured on the first rows (write-only mode needs both
    before any row is written), then every row through typed cells."""
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    head = header(lang, table.columns)
    sample: list[list[Any]] = []
    async for row in table.rows:
        sample.append(row)
        if len(sample) >= WIDTH_SAMPLE:
            break
    for index, width in enumerate(_widths(table.columns, head, sample), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    cells = _Cells(sheet, lang, tz)
    sheet.append([cells.make("text", text, bold=True) for text in head])
    kinds = [column.kind for column in table.columns]
    for row in sample:
        sheet.append(cells.row(kinds, row))
    async for row in table.rows:
        sheet.append(cells.row(kinds, row))


def _widths(columns: Sequence[Column], head: list[str], sample: list[list[Any]]) -> list[float]:
    fixed = {"count": 10, "rate": 10, "time": 17, "minutes": 10}
    widths = []
    for index, column in enumerate(columns):
        longest = max((len(str(row[index] or "")) for row in sample), default=0)
        body = fixed.get(column.kind, longest)
        widths.append(float(min(max(len(head[index]), body, 6) + 2, WIDTH_MAX)))
    return widths


class _Cells:
    """Typed write-only cells with shared styles (openpyxl keeps one style per distinct look)."""

    def __init__(self, sheet: Any, lang: str, tz: ZoneInfo) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self.sheet, self.tz, self.new, self.bold = sheet, tz, WriteOnlyCell, Font(bold=True)
        self.time_format = TIME_FORMATS.get(lang, TIME_FORMATS["vi"])

    def row(self, kinds: list[str], values: list[Any]) -> list[Any]:
        return [self.make(k, v) for k, v in zip(kinds, values, strict=True)]

    def make(self, kind: str, value: Any, bold: bool = False) -> Any:
        """A plain value where openpyxl already writes the right type (ints, ordinary text):
        a cell object per value is what makes write-only mode slow."""
        if value is None or value == "":
            return None
        if kind == "count" and isinstance(value, int):
            return value
        if kind in ("time", "rate", "minutes"):
            local = _local(value, self.tz) if kind == "time" else float(value)
            cell = self.new(self.sheet, value=local)
            cell.number_format = NUMBER_FORMATS.get(kind) or self.time_format
            return cell
        text = ILLEGAL_XML.sub("", str(value))
        if not formula_like(text) and not bold:
            return text  # openpyxl writes a str that is no formula as a string cell
        # A string cell, never a formula, whatever it starts with.
        cell = self.new(self.sheet, value=text)
        cell.data_type = "s"
        cell.quotePrefix = formula_like(text)  # Excel keeps it text even when edited
        if bold:
            cell.font = self.bold
        return cell
