"""The one rule for formula-like text, and sheet names Excel accepts."""

import pytest

from coordinator.sheets import csv_text, formula_like
from coordinator.tallies.exports import sheet_title


@pytest.mark.parametrize(
    "text", ["=1+1", "+84", "-5", "@SUM(A1)", "\tx", "\rx", "=cmd|' /C calc'!A0"]
)
def test_formula_like_text_is_quoted_in_csv(text):
    assert formula_like(text) and csv_text(text) == "'" + text


@pytest.mark.parametrize("text", ["Nguyễn Văn An", "", "a=b", "'quoted", " =1", "–"])
def test_ordinary_text_is_left_alone(text):
    assert not formula_like(text) and csv_text(text) == text


def test_sheet_titles_fit_excel_and_stay_unique():
    taken: set[str] = set()
    long = "Chiến dịch tuyên truyền phòng chống lừa đảo trực tuyến tháng 12"
    first = sheet_title(long, taken)
    second = sheet_title(long, taken)
    assert len(first) <= 31 and len(second) <= 31 and first != second
    assert first.endswith("…") and second.endswith("(2)")
    assert first.startswith("Chiến dịch tuyên truyền")
    odd = sheet_title("Q4: [Hà Nội]/HCM * a?b\\c", taken)
    assert not set(odd) & set("[]:*?/\\") and "Hà Nội" in odd
    assert sheet_title("Đơn vị", taken) == "Đơn vị" and sheet_title("ĐƠN VỊ", taken) == "ĐƠN VỊ (2)"
    assert sheet_title("", taken) == "Export"
