"""Counts take the page's language wherever they are shown (templates and messages), campaign
refusals name the state and the move in the reader's language, and the audit log's details read
as words and names, not codes and ids."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.auth.models import AuditEvent
from coordinator.auth.web.audit_details import shown_details, wanted_ids
from coordinator.auth.web.audit_lines import line
from coordinator.campaigns.states import wrong_status
from coordinator.i18n import translate
from coordinator.web.context import say
from tests.web.test_language import site as site  # the fixture

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# A count printed as is: `{{ c.done }}`, `{{ summary.resent }}`, `{{ t.items | length }}`; not
# an attribute's value (`<meter max="{{ t.assigned }}">` needs the plain number).
COUNTS = (
    "assigned|delivered|acknowledged|done|declined|expired|unreachable|resent|uncertain|"
    "members|invited|linked|active|dead_letter|dropped_edits|attempts|total|volunteers|groups"
)
BARE_COUNT = re.compile(
    r'(?<!=")\{\{\s*[\w.]+\.(?:' + COUNTS + r")\s*\}\}|\{\{[^}]*\|\s*length\s*\}\}"
)


def test_every_count_in_the_templates_goes_through_the_number_filter():
    bare = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for match in BARE_COUNT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert bare == []


def test_counts_inside_messages_take_the_language_form():
    assert translate("vi", "{n} group chats", n=1234).startswith("1.234 ")
    assert translate("en", "{n} group chats", n=1234) == "1,234 group chats"
    # A message that formats its value itself, and ids, stay as they are.
    quiet = (
        "It is {time} now, in quiet hours ({start}:00-{end:02d}:00): volunteers would be "
        "messaged at night. Consider launching at {end:02d}:00 instead."
    )
    assert "22:00-07:00" in translate("en", quiet, time="23:10", start=22, end=7)
    assert translate("en", "x {id}", id=12345) == "x 12345"


def test_a_refused_move_names_the_state_and_the_move_in_the_readers_language():
    refused = wrong_status("closed", "launch")
    assert refused.code == "wrong_status" and refused.status == 409
    vi = "Chiến dịch đang ở trạng thái “đã kết thúc” nên không thể khởi chạy."
    assert say("vi", refused) == vi
    assert say("en", refused) == "A campaign that is closed cannot be launched."
    assert refused.detail.startswith("A campaign that is ") and "campaign:" not in refused.detail
    assert "move:" not in say("en", wrong_status("draft", "content"))


def test_the_audit_details_read_as_words_and_names():
    names = {("organization", 3): "Thành đoàn Bình Minh", ("channel", 8): "Tuổi trẻ"}
    role = AuditEvent(action="user.role", detail={"old": "lead", "new": "coordinator"})
    assert shown_details("vi", role.action, role.detail, names) == [
        ("trước", "phụ trách đơn vị"),
        ("sau", "điều phối viên"),
    ]
    moved = {"moved_from": 3, "moved_to": 4}
    assert shown_details("vi", "member.update", moved, names) == [
        ("chuyển từ", "Thành đoàn Bình Minh"),
        ("chuyển đến", "#4"),
    ]
    assert wanted_ids([moved, {"parties": [3, 5]}]) == {"organization": {3, 4, 5}}
    channel = {"organization_id": 3, "platform": "youtube"}
    assert shown_details("en", "channel.create", channel, names) == [
        ("organization", "Thành đoàn Bình Minh"),
        ("platform", "YouTube"),
    ]
    other = shown_details("vi", "channel.create", {"platform": "other"}, names)
    assert other == [("nền tảng", translate("vi", "Other platform"))]
    content = {"ownership": "confirmed_by_coordinator", "channel": 8}
    assert shown_details("vi", "campaign.content", content, names) == [
        ("quyền sở hữu", "điều phối viên xác nhận"),
        ("kênh", "Tuổi trẻ"),
    ]
    counts = shown_details("vi", "member.import", {"created": 1234, "filename": "a.csv"}, names)
    assert counts == [("tạo mới", "1.234"), ("tệp", "a.csv")]
    export = shown_details("en", "export.participation", {"start": "2026-12-01"}, names)
    assert export == [("from", "01 Dec 2026")]
    # A code without a word (a reminder's step) stays as it was recorded.
    assert shown_details("en", "campaign.remind", {"step": "24h"}, names) == [("step", "24h")]


def test_a_deleted_template_keeps_its_name_in_the_audit_log():
    gone = AuditEvent(
        action="campaign.template_delete",
        object_type="template",
        object_id=7,
        detail={"title": "Mẫu tuần"},
    )
    shown = line("vi", gone, {})
    assert (shown.before, shown.name, shown.after) == ("đã xóa mẫu ", "Mẫu tuần", "")
    assert shown.details == [("tên", "Mẫu tuần")]


async def test_a_refused_move_reaches_the_status_page_in_vietnamese(site):
    from coordinator.campaigns import service as campaigns
    from tests.web.test_language import _post, leaks
    from tests.web.test_web_authorization import sign_in

    world, client = site
    cid = await world.campaign()
    coordinator = world.actor["coordinator"]
    await campaigns.launch_campaign(world.db, coordinator, cid)
    await campaigns.close_campaign(world.db, coordinator, cid)
    await sign_in(client, "admin")
    shown = (await _post(client, f"/campaigns/{cid}/launch", {})).text
    assert "nên không thể khởi chạy" in shown and "đã kết thúc" in shown
    assert "cannot be" not in shown and "campaign:" not in shown and leaks(shown) == []


def test_campaign_field_errors_with_values_are_catalog_messages():
    from coordinator.errors import field_error
    from coordinator.web.context import error_text

    comment = field_error("comment", "1-{limit} characters", limit=2000)
    assert error_text("vi", comment) == "1-2.000 ký tự"
    outside = field_error("club_ids", "not clubs of the agreement's parties: {ids}", ids="4, 9")
    assert error_text("vi", outside) == "không phải câu lạc bộ của các bên trong thỏa thuận: 4, 9"
