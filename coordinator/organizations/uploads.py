"""Uploaded tables read within limits that no file can push memory past: CSV streamed row by
row; XLSX checked as a zip archive (declared sizes, compression ratio) and scanned part by part
by expat, keeping only counters, before openpyxl opens it read-only and streams its rows.

Python's zipfile never unpacks more than an entry's declared size (it stops there and fails the
CRC check), so checking the declared sizes first bounds what any later reader can unpack."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import IO, Any
from xml.parsers import expat

from coordinator.base import plain_digits
from coordinator.errors import Invalid

MB = 1024 * 1024
MAX_BYTES = 10 * MB  # the upload itself
MAX_LINES = 120_000  # rows, blank ones included: an empty-looking sheet can hold a million
MAX_COLUMNS = 50  # columns with something in them
MAX_CELL = 1_000  # characters; a name is at most 200, a list of clubs a few hundred
# openpyxl holds every shared string in memory even in read-only mode, and builds the styles
# and the workbook whole; only worksheets stream. Real member lists stay far below these.
MAX_UNPACKED = 48 * MB
MAX_WORKSHEET = 32 * MB
MAX_SHARED_STRINGS = 8 * MB
MAX_OTHER_PART = 4 * MB
MAX_RATIO = 100  # unpacked / packed, for parts over 1 MB: real workbooks stay well below
# Elements per part, parsed in a few seconds at most; styles hold a few thousand in real files.
MAX_ELEMENTS = {"sheet": 5_000_000, "strings": 2_000_000, "other": 200_000}
MAX_ROW_CELLS = 16_384  # Excel's own column limit, empty cells included


class FileRefused(Invalid):
    """An upload refused before its rows are used; `message` and `values` translate it."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message, code="file_refused", values=values)


def too_many_lines(line: int) -> FileRefused:
    return FileRefused(
        "The file has more than {limit} rows (row {line}); split it.", limit=MAX_LINES, line=line
    )


def cell_too_long(line: int) -> FileRefused:
    return FileRefused(
        "Row {line} has a cell longer than {limit} characters.", line=line, limit=MAX_CELL
    )


def text_too_long() -> FileRefused:
    return FileRefused("A cell is longer than {limit} characters.", limit=MAX_CELL)


def too_many_columns(line: int) -> FileRefused:
    return FileRefused(
        "Row {line} has more than {limit} filled columns.", line=line, limit=MAX_COLUMNS
    )


# ---- CSV ---------------------------------------------------------------------------------------


def rows_csv(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Decoded while read: no second copy of the whole text."""
    first = data[:4096].decode("utf-8", errors="ignore").split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(_lines(text, delimiter), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except UnicodeDecodeError:
        raise FileRefused(
            "The CSV file is not UTF-8 text. Save it as 'CSV UTF-8' and try again."
        ) from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise cell_too_long(reader.line_num) from None
        raise Invalid(f"The CSV file is malformed near line {reader.line_num}: {exc}.") from None


def _lines(text: IO[str], delimiter: str) -> Iterator[str]:
    """Lines for the csv module, refusing one so wide that its row alone would be a burden."""
    for number, line in enumerate(text, start=1):
        if line.count(delimiter) > MAX_ROW_CELLS:
            raise too_many_columns(number)
        yield line


# ---- XLSX --------------------------------------------------------------------------------------


def rows_xlsx(data: bytes) -> Iterator[tuple[int, list[str]]]:
    archive = open_archive(data)
    for info in archive.infolist():
        if info.filename.endswith((".xml", ".rels")):
            with archive.open(info) as part:
                _scan_part(part, _kind(info.filename))
    yield from _openpyxl_rows(data)


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The archive if its declared sizes are within the limits; nothing is unpacked yet."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise FileRefused("The file is not a readable XLSX workbook.") from None
    if sum(info.file_size for info in infos) > MAX_UNPACKED:
        raise _too_big(MAX_UNPACKED)
    for info in infos:
        limit = _size_limit(_kind(info.filename))
        if info.file_size > limit:
            raise _too_big(limit)
        if info.file_size > MB and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise FileRefused(
                "The file unpacks to far more than its size (a 'zip bomb'); it was not opened."
            )
    return archive


def _too_big(limit: int) -> FileRefused:
    return FileRefused(
        "The workbook is too large once unpacked (over {limit} MB in one part or in all); "
        "save only the member list in a new file.",
        limit=limit // MB,
    )


def _size_limit(kind: str) -> int:
    return {"sheet": MAX_WORKSHEET, "strings": MAX_SHARED_STRINGS}.get(kind, MAX_OTHER_PART)


def _kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith("sharedstrings.xml"):
        return "strings"
    return "sheet" if "/worksheets/" in lower or "/sheet" in lower else "other"


def _scan_part(part: IO[bytes], kind: str) -> None:
    """Parse one part with expat, building nothing (no tree, no text kept), and refuse what
    openpyxl would turn into too much memory or time: too many elements, rows, filled cells or
    characters in one run of text. A document type declaration is refused outright."""
    scan = _Scan(kind)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.text
    parser.StartDoctypeDeclHandler = scan.doctype
    try:
        parser.ParseFile(part)
    except (expat.ExpatError, zipfile.BadZipFile, EOFError, OSError):
        raise FileRefused("The file is not a readable XLSX workbook.") from None


class _Scan:
    """Counters for one part while expat reads it."""

    def __init__(self, kind: str) -> None:
        self.kind, self.limit = kind, _size_limit(kind)
        self.elements = self.rows = self.cells = self.filled = self.run = 0
        self.cell_filled = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.elements += 1
        self.run = 0
        if self.elements > MAX_ELEMENTS[self.kind]:
            raise _too_big(self.limit)
        if self.kind == "sheet":
            self._sheet(name.rpartition(" ")[2], attrs)

    def end(self, name: str) -> None:
        self.run = 0

    def text(self, data: str) -> None:
        self.run += len(data)
        if self.run > MAX_CELL:
            raise cell_too_long(self.rows + 1) if self.kind == "sheet" else text_too_long()

    def doctype(self, *args: Any) -> None:
        raise FileRefused("The file is not a readable XLSX workbook.")

    def _sheet(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "c":
            self.cells += 1
            self.cell_filled = False
            if self.cells > MAX_ROW_CELLS:
                raise too_many_columns(self.rows + 1)
        elif tag in ("v", "is") and not self.cell_filled:
            self.cell_filled = True
            self.filled += 1
            if self.filled > MAX_COLUMNS:
                raise too_many_columns(self.rows + 1)
        elif tag == "row":
            self.rows += 1
            self.cells = self.filled = 0
            number = attrs.get("r", "")
            line = int(number) if plain_digits(number) else self.rows
            if max(line, self.rows) > MAX_LINES:
                raise too_many_lines(max(line, self.rows))


def _openpyxl_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # rows as they are, not padded to a declared size
    except Exception:
        raise FileRefused("The file is not a readable XLSX workbook.") from None
    try:
        rows = sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True)
        for index, row in enumerate(rows, start=1):
            yield index, ["" if v is None else str(v) for v in row]
    except Exception:
        raise FileRefused("The file is not a readable XLSX workbook.") from None
    finally:
        book.close()
