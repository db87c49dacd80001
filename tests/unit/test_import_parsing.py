"""The import parser: headers in two languages, CSV dialects, XLSX, and garbage in."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from coordinator.errors import Invalid
from coordinator.organizations.importer import parse_table


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
