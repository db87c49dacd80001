"""Bulk import: all rows or none, errors by line, re-import changes nothing."""

import csv
import io
import time
import tracemalloc

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from coordinator.errors import Forbidden, Invalid
from coordinator.i18n import translate
from coordinator.organizations.importer import import_members
from coordinator.organizations.members import list_members
from coordinator.organizations.models import Member, MemberClub
from coordinator.organizations.uploads import FileRefused
from tests.spreadsheets import MB, shared_string_bomb, xlsx

CSV = """họ tên,mã,đơn vị,clb,ngôn ngữ
Nguyễn Văn An,A1,,CLB club,vi
Trần Thị Bình,A2,Đoàn xã A1,,en
Lê Văn Cường,,,,
"""


async def _count(db) -> tuple[int, int]:
    async with db.read() as session:
        members = await session.scalar(select(func.count()).select_from(Member))
        links = await session.scalar(select(func.count()).select_from(MemberClub))
    return members, links


async def test_it_imports_a_csv_and_changes_nothing_on_reimport(world):
    lead, district = world.actor["lead"], world.org["district"]
    before = await _count(world.db)
    first = await import_members(world.db, lead, district, CSV.encode(), "ds.csv")
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    after_first = await _count(world.db)
    assert after_first == (before[0] + 3, before[1] + 1)
    again = await import_members(world.db, lead, district, CSV.encode(), "ds.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert await _count(world.db) == after_first
    page, _ = await list_members(
        world.db, lead, organization_id=world.org["commune"], club_id=None, limit=50, offset=0
    )
    assert "Trần Thị Bình" in {m.display_name for m in page.items}


async def test_it_updates_what_changed_on_reimport(world):
    lead, district = world.actor["lead"], world.org["district"]
    await import_members(world.db, lead, district, CSV.encode(), "ds.csv")
    changed = CSV.replace("Nguyễn Văn An,A1,,CLB club,vi", "Nguyễn Văn Ân,A1,,,en")
    result = await import_members(world.db, lead, district, changed.encode(), "ds.csv")
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)


async def test_it_imports_nothing_when_any_row_is_wrong_and_names_the_lines(world):
    lead, district = world.actor["lead"], world.org["district"]
    before = await _count(world.db)
    bad = (
        CSV
        + "Phạm Văn Dũng,A4,Đoàn khối doanh nghiệp,,\n"  # line 5: another organization
        + ",A5,,,\n"  # line 6: no name
        + "Võ Thị E,A6,,CLB không có,xx\n"  # line 7: unknown club and language
        + "Trần Thị Bình,A2,Đoàn xã A1,,en\n"  # line 8: repeats line 3
    )
    with pytest.raises(Invalid) as error:
        await import_members(world.db, lead, district, bad.encode(), "ds.csv")
    lines = {e["line"]: e["message"] for e in error.value.errors}
    assert set(lines) == {5, 6, 7, 8}
    assert "organization" in lines[5]
    assert "display_name" in lines[6]
    assert "club" in lines[7] and "locale" in lines[7]
    assert "twice" in lines[8]
    assert "Nothing was imported: 4 row(s)" in error.value.detail
    assert await _count(world.db) == before


async def test_it_imports_xlsx(world):
    book = Workbook()
    sheet = book.active
    sheet.append(["Họ và tên", "Mã đoàn viên"])
    for n in range(25):
        sheet.append([f"Đoàn viên Excel {n}", f"X{n}"])
    buffer = io.BytesIO()
    book.save(buffer)
    result = await import_members(
        world.db, world.actor["lead"], world.org["district"], buffer.getvalue(), "ds.xlsx"
    )
    assert result.created == 25


async def test_it_keeps_imports_inside_the_importers_reach(world):
    with pytest.raises(Forbidden):
        await import_members(
            world.db, world.actor["lead"], world.org["outsider"], CSV.encode(), "a.csv"
        )
    with pytest.raises(Forbidden):
        await import_members(
            world.db, world.actor["coordinator"], world.org["district"], CSV.encode(), "a.csv"
        )


# ---- hostile files -----------------------------------------------------------------------------

HYPERLINK = '=HYPERLINK("http://evil.example/?x","click")'
DDE = "=cmd|' /C calc'!A0"


def _hostile_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([["họ tên", "mã"], [HYPERLINK, "H1"], [DDE, "H2"], ["An", "@3"], ["Bình", ""]])
    return out.getvalue().encode()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_it_keeps_formula_like_names_as_typed_and_warns(world, kind):
    lead, district = world.actor["lead"], world.org["district"]
    rows = [["họ tên", "mã"], [HYPERLINK, "H1"], [DDE, "H2"], ["An", "@3"], ["Bình", ""]]
    data = _hostile_csv() if kind == "csv" else xlsx(rows)
    preview = await import_members(world.db, lead, district, data, f"ds.{kind}", dry_run=True)
    result = await import_members(world.db, lead, district, data, f"ds.{kind}")
    for found in (preview, result):
        assert [(w["line"], w["field"], w["start"]) for w in found.warnings] == [
            (2, "display_name", "="),
            (3, "display_name", "="),
            (4, "code", "@"),
        ]
    assert result.created == 4
    async with world.db.read() as session:
        names = set((await session.scalars(select(Member.display_name))).all())
    assert {HYPERLINK, DDE} <= names  # stored as typed


async def test_the_api_and_the_preview_page_show_the_warnings(world):
    from tests.factories import api_client
    from tests.web.test_web_authorization import sign_in

    async with api_client(world) as api:
        url = f"/api/v1/members/import?organization_id={world.org['district']}"
        files = {"file": ("ds.csv", _hostile_csv(), "text/csv")}
        answer = await api.post(url, headers=api.as_("lead"), files=files)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["created"] == 4 and [w["line"] for w in body["warnings"]] == [2, 3, 4]
        assert "formula" in body["warnings"][0]["message"]
        await sign_in(api, "lead")
        page = await api.post(
            "/members/import",
            data={"organization_id": str(world.org["district"])},
            files=files,
            headers={"x-csrftoken": api.cookies["coordinator_csrf"]},
        )
        assert page.status_code == 200 and 'id="import-warnings"' in page.text
        assert "công thức bảng tính" in page.text and "<code>@</code>" in page.text


async def test_a_shared_string_bomb_is_refused_quickly_within_bounded_memory(world):
    """200 MB of one repeated string in 200 KB of file: refused from the archive's declared
    sizes before openpyxl opens it (the old reader grew by ~400 MB on this file)."""
    bomb = shared_string_bomb(200 * MB)
    assert len(bomb) < 1 * MB
    before = await _count(world.db)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FileRefused) as refused:
            await import_members(
                world.db, world.actor["lead"], world.org["district"], bomb, "bomb.xlsx"
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 100 * MB, peak
    assert "too large once unpacked" in refused.value.detail
    assert translate("vi", refused.value.message, **refused.value.values).startswith("Sổ tính")
    assert await _count(world.db) == before  # nothing half-written


async def test_a_refused_file_is_explained_by_the_api_and_on_the_page_in_vietnamese(world):
    from tests.factories import api_client
    from tests.web.test_web_authorization import sign_in

    files = {"file": ("bomb.xlsx", shared_string_bomb(100 * MB), "application/octet-stream")}
    async with api_client(world) as api:
        url = f"/api/v1/members/import?organization_id={world.org['district']}"
        answer = await api.post(url, headers=api.as_("lead"), files=files)
        assert answer.status_code == 422 and answer.json()["code"] == "file_refused"
        assert "too large once unpacked (over 48 MB" in answer.json()["detail"]
        await sign_in(api, "lead")
        page = await api.post(
            "/members/import",
            data={"organization_id": str(world.org["district"])},
            files=files,
            headers={"x-csrftoken": api.cookies["coordinator_csrf"]},
        )
        assert page.status_code in (200, 422) and 'id="import-errors"' in page.text
        assert "Sổ tính quá lớn khi giải nén (hơn 48 MB" in page.text
