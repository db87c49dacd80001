"""Real spreadsheet files for tests, built with openpyxl and zipfile: hostile ones included."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

MB = 1024 * 1024


def xlsx(rows: list[list[object]]) -> bytes:
    """Strings as text cells, as a spreadsheet stores what was typed after a quote."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def shared_string_bomb(size: int = 200 * MB, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A workbook whose second name cell points at a shared string of `size` repeated letters:
    a few hundred kilobytes on disk (ZIP_DEFLATED), `size` bytes once unpacked."""
    base = zipfile.ZipFile(io.BytesIO(xlsx([["name"], ["placeholder"]])))
    edits = {
        "xl/worksheets/sheet1.xml": (
            b'<c r="A2" t="inlineStr"><is><t>placeholder</t></is></c>',
            b'<c r="A2" t="s"><v>1</v></c>',
        ),
        "[Content_Types].xml": (
            b"</Types>",
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}" />'
            "</Types>".encode(),
        ),
        "xl/_rels/workbook.xml.rels": (
            b"</Relationships>",
            f'<Relationship Type="{SST_REL}" Target="sharedStrings.xml" Id="rId9" />'
            "</Relationships>".encode(),
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as bomb:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename in edits:
                old, new = edits[info.filename]
                assert old in data, info.filename
                data = data.replace(old, new)
            bomb.writestr(info.filename, data)
        with bomb.open("xl/sharedStrings.xml", "w") as strings:
            strings.write(
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                b'count="2" uniqueCount="2"><si><t>name</t></si><si><t>'
            )
            chunk = b"A" * min(size, MB)
            for _ in range(max(size // MB, 1)):
                strings.write(chunk)
            strings.write(b"</t></si></sst>")
    return out.getvalue()
