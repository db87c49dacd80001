"""Every text the bot can say exists in Vietnamese, and messages are escaped and bounded."""

import ast
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from coordinator.bots import org_presses
from coordinator.campaigns import reports
from coordinator.delivery import messages
from coordinator.i18n import _catalog, translate

ROOT = Path(__file__).resolve().parents[2] / "coordinator"


def _literal_msgids() -> set[str]:
    """Second arguments of _(locale, "text") calls, as written in the code."""
    found = set()
    for path in (ROOT / "bots").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "_"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                found.add(node.args[1].value)
    return found


def test_it_has_a_vietnamese_text_for_everything_the_bot_says():
    wanted = (
        _literal_msgids()
        | set(reports.REFUSALS.values())
        | set(org_presses.REFUSALS.values())
        | set(messages.STATUS_LABELS.values())
        | set(messages.ACTION_LABELS.values())
    )
    vi, en = _catalog("vi"), _catalog("en")
    assert len(wanted) > 30
    missing = sorted(m for m in wanted if m not in vi)
    assert missing == []
    assert all(m in en for m in wanted)
    assert translate("vi", "Done") == "Đã làm xong" and translate("en", "Done") == "Done"


def test_it_escapes_and_bounds_assignment_messages():
    view = messages.AssignmentView(
        assignment_id=7,
        title="<script>alert(1)</script>",
        brief="a & b",
        deadline_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        items=[messages.ItemView('https://fb.com/p?a=1&b="2"', ["share"], "x" * 5000)],
        status="delivered",
    )
    text = messages.render(view, "vi", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert "<script>" not in text and "&lt;script&gt;" in text and "a &amp; b" in text
    assert "17:00 01/12/2026" in text  # local time
    assert len(text) <= 4096
    data = [b["callback_data"] for b in messages.buttons(view, "vi")["inline_keyboard"][0]]
    assert data == ["t:7:ack", "t:7:done", "t:7:no"]
    assert all(messages.parse_callback(d)[0] == 7 for d in data)
    assert messages.parse_callback("t:x:done") is None and messages.parse_callback("evil") is None


def test_a_cached_card_text_follows_everything_the_card_shows():
    """`card_text` renders once per content; any change to what a card shows (its campaign
    edited, its status moved, a group count moved, a note) must give the new text."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    view = messages.AssignmentView(
        assignment_id=1,
        title="Chia sẻ bài viết",
        brief="Tỉnh đoàn",
        deadline_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        items=[messages.ItemView("https://fb.com/p/1", ["share"], None)],
        status="delivered",
    )
    variants = [
        view,
        replace(view, assignment_id=2),  # another task of the campaign: same text
        replace(view, title="Bài mới"),
        replace(view, status="done"),
        replace(view, items=[messages.ItemView("https://fb.com/p/1", ["share", "react"], None)]),
        replace(view, counts={"done": 1}),
        replace(view, counts={"done": 2}),
    ]
    for locale in ("vi", "en"):
        for v in variants:
            for copy, replaced in ((False, False), (True, False), (False, True)):
                expected = messages.render(v, locale, tz, copy=copy, replaced=replaced)
                for _ in range(2):  # the second call is served from the cache
                    got = messages.card_text(v, locale, tz, copy=copy, replaced=replaced)
                    assert got == expected
