"""Spreadsheet cells that open safely: the one rule for text that a spreadsheet could run as a
formula (OWASP "CSV injection"), shared by the exports and the member import."""

from __future__ import annotations

# A cell whose text starts with one of these is read as a formula by Excel or LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def csv_text(text: str) -> str:
    """Text for a CSV cell: a leading quote makes a spreadsheet show it instead of running it."""
    return "'" + text if formula_like(text) else text
