"""Bulk import: all rows or none, errors by line, re-import changes nothing."""

import io

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from coordinator.errors import Forbidden, Invalid
from coordinator.organizations.importer import import_members
from coordinator.organizations.members import list_members
from coordinator.organizations.models import Member, MemberClub

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
