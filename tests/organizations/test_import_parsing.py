"""The import parser: headers in two languages, CSV dialects, XLSX, and garbage in."""

import io
import struct
import tracemalloc
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from coordinator.errors import Invalid
from coordinator.organizations import importer, uploads
from coordinator.organizations.importer import MAX_ROWS, parse_table
from coordinator.organizations.uploads import FileRefused
from tests.spreadsheets import MB, shared_string_bomb, xlsx


def test_it_reads_vietnamese_headers_and_semicolons():
    data = "Họ tên;Mã;Câu lạc bộ\nNguyễn Văn An;DV1;CLB A\n\nTrần Thị Bình;DV2;\n".encode()
    rows = parse_table(data, "ds.csv")
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].values == {"display_name": "Nguyễn Văn An", "code": "DV1", "clubs": "CLB A"}


def test_it_reads_a_bom_and_english_headers():
    rows = parse_table("\ufeffname,code\nAn,1\n".encode(), "x.CSV")
    assert rows[0].values["display_name"] == "An"


def test_it_reads_xlsx():
    book = Workbook()
    sheet = book.active
    sheet.append(["Display name", "Organization", "Locale"])
    sheet.append(["Lê Văn Cường", 3, "en"])
    buffer = io.BytesIO()
    book.save(buffer)
    rows = parse_table(buffer.getvalue(), "members.xlsx")
    assert rows[0].line == 2
    assert rows[0].values == {"display_name": "Lê Văn Cường", "organization": "3", "locale": "en"}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.csv", "empty"),
        (b"foo,bar\n1,2\n", "a.csv", "name column"),
        (b"name\n", "a.csv", "no rows"),
        (b"name\nAn\n", "a.pdf", "Upload a .csv or .xlsx"),
        (b"\xff\xfe\x00garbage", "a.csv", "not UTF-8"),
        (b"PK\x03\x04 not really a zip", "a.xlsx", "not a readable XLSX"),
    ],
)
def test_it_explains_unusable_files(data, name, message):
    with pytest.raises(Invalid, match=message):
        parse_table(data, name)


@settings(max_examples=200)
@given(st.binary(max_size=400), st.sampled_from(["a.csv", "a.xlsx"]))
def test_it_never_crashes_on_arbitrary_bytes(data, name):
    try:
        rows = parse_table(data, name)
    except Invalid:
        return
    assert all(r.line >= 2 for r in rows)


# ---- limits: hostile files are refused before they cost memory ----------------------------


def test_a_bomb_that_lies_about_its_size_is_refused_without_unpacking_more():
    """Declared 1 KB, deflates to 50 MB: zipfile stops at the declared size and the CRC fails."""
    honest = shared_string_bomb(50 * MB)
    archive = zipfile.ZipFile(io.BytesIO(honest))
    info = archive.getinfo("xl/sharedStrings.xml")
    lying = _patch_declared_size(honest, info, 1024)
    tracemalloc.start()
    try:
        with pytest.raises(FileRefused, match="not a readable XLSX"):
            parse_table(lying, "bomb.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * MB, peak


def _patch_declared_size(data: bytes, info: zipfile.ZipInfo, size: int) -> bytes:
    """Rewrite one entry's uncompressed size in its local header and the central directory."""
    patched = bytearray(data)
    struct.pack_into("<I", patched, info.header_offset + 22, size)
    name = info.filename.encode()
    for start in _central_entries(patched):
        length = struct.unpack_from("<H", patched, start + 28)[0]
        if bytes(patched[start + 46 : start + 46 + length]) == name:
            struct.pack_into("<I", patched, start + 24, size)
    return bytes(patched)


def _central_entries(data: bytearray) -> list[int]:
    found, at = [], data.find(b"PK\x01\x02")
    while at != -1:
        found.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    return found


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        ("name\n" + "An\n" * (MAX_ROWS + 1), "a.csv", "more than 100000 rows"),
        ("name\n" + "\n" * (uploads.MAX_LINES + 5) + "An\n", "a.csv", "more than 120000 rows"),
        ("name," + ",".join(f"c{i}" for i in range(60)) + "\nAn\n", "a.csv", "filled columns"),
        ("name\n" + "x" * 1_001 + "\n", "a.csv", "longer than 1000"),
        ("name\n" + "x" * 200_000 + "\n", "a.csv", "longer than 1000"),
        ("name" + "," * 20_000 + "\nAn\n", "a.csv", "filled columns"),
    ],
)
def test_it_refuses_too_many_rows_columns_or_long_cells_in_csv(data, name, message):
    with pytest.raises(FileRefused, match=message):
        parse_table(data.encode(), name)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["name"]] + [["An"]] * 61, "more than 60 rows"),
        ([["name", *(f"c{i}" for i in range(60))], ["An"]], "filled columns"),
        ([["name"], ["x" * 1_001]], "longer than 1000"),
    ],
)
def test_it_refuses_too_many_rows_columns_or_long_cells_in_xlsx(rows, message, monkeypatch):
    monkeypatch.setattr(importer, "MAX_ROWS", 60)  # the same code path as 100,000, built faster
    with pytest.raises(FileRefused, match=message):
        parse_table(xlsx(rows), "a.xlsx")


def test_it_refuses_a_sheet_that_jumps_to_a_far_row_or_holds_a_million_empty_cells():
    far = _rewrite(xlsx([["name"], ["An"]]), b'<row r="2">', b'<row r="900000">')
    with pytest.raises(FileRefused, match="rows"):
        parse_table(far, "a.xlsx")
    wide = _rewrite(
        xlsx([["name"], ["An"]]), b"</row></sheetData>", b"<c/>" * 20_000 + b"</row></sheetData>"
    )
    with pytest.raises(FileRefused, match="filled columns"):
        parse_table(wide, "a.xlsx")


def _rewrite(data: bytes, old: bytes, new: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert old in part
                part = part.replace(old, new, 1)
            target.writestr(info.filename, part)
    return out.getvalue()


def test_a_long_shared_string_within_the_size_limits_is_refused_without_being_built():
    """5 MB stored uncompressed (no ratio to catch): expat counts it, nothing keeps it."""
    stored = shared_string_bomb(5 * MB, zipfile.ZIP_STORED)
    tracemalloc.start()
    try:
        with pytest.raises(FileRefused, match="longer than 1000 characters"):
            parse_table(stored, "long.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(stored), peak  # the upload and its archive index, no 5 MB string


def test_a_document_type_declaration_is_refused():
    laughs = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
    data = _rewrite(
        xlsx([["name"], ["An"]]),
        b"<worksheet",
        laughs + b"<worksheet",
    )
    with pytest.raises(FileRefused, match="not a readable XLSX"):
        parse_table(data, "a.xlsx")
