"""Seeing the cascade: the status page's live partial shows, per organization task in tree
order, when it was received and passed on and how, who has not passed it on (counted at the
top), what each branch reached and did (equal to a recount), and the response times from the
launch with their medians; the exports carry the same response times, typed."""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook
from sqlalchemy import func, or_
from sqlmodel import col, select

from coordinator.app import create_app
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.organizations.models import GroupChat, Member
from coordinator.organizations.tree import subtree_ids
from coordinator.settings import read_settings
from coordinator.tallies.cache import PROGRESS
from coordinator.tallies.cascade import median, minutes_after
from coordinator.tallies.summary import recount_summary
from tests.campaigns.test_cascade import _task
from tests.factories import actor_of, focal_point_id
from tests.web.test_web_authorization import sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HYPERLINK = '=HYPERLINK("http://evil.example/?x","click")'


async def _three_levels(world: Any) -> tuple[int, Any]:
    """Province → districts → commune, each focal point acting differently at known minutes
    after the launch; the second district does nothing."""
    province = await actor_of(world, await focal_point_id(world, "p", "province", 7_000_001))
    district = await actor_of(world, await focal_point_id(world, "d", "district", 7_000_002))
    commune = await actor_of(world, await focal_point_id(world, "c", "commune", 7_000_003))
    async with world.db.write() as session:
        session.add(
            GroupChat(telegram_chat_id=-5001, title="Xã A1", organization_id=world.org["commune"])
        )
    cid = await world.campaign(targets=("province",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        launched = (await session.get(Campaign, cid)).launched_at

    async def act(who: Any, org: str, step: str, minutes: int) -> None:
        task = await _task(world, cid, org)
        at = launched + timedelta(minutes=minutes)
        await cascade_service.act(world.db, who, task.id, step, now=at)

    await act(province, "province", "received", 10)
    await act(province, "province", "suborgs", 30)
    await act(district, "district", "received", 40)
    await act(district, "district", "clubs", 60)
    await act(district, "district", "suborgs", 90)
    await act(commune, "commune", "received", 100)
    await act(commune, "commune", "members", 150)
    await act(commune, "commune", "groups", 160)
    # Some tasks reach Telegram and some are done (the summary's triggers count them).
    async with world.db.write() as session:
        tasks = await session.scalars(select(Assignment).where(Assignment.campaign_id == cid))
        for task in tasks.all():
            if task.member_id in (world.member["d1"], world.member["c1"]):
                task.status = "delivered"
            elif task.member_id == world.member["d3"] or task.group_chat_id is not None:
                task.status = "done"
    return cid, launched


async def _recount(world: Any, cid: int, org: str) -> tuple[int, int]:
    """(reached, done) of the organization and everything below it, from the raw rows."""
    async with world.db.read() as session:
        below = await subtree_ids(session, [world.org[org]])
        members = select(Member.id).where(col(Member.organization_id).in_(below))
        groups = select(GroupChat.id).where(col(GroupChat.organization_id).in_(below))
        ours = (
            Assignment.campaign_id == cid,
            or_(col(Assignment.member_id).in_(members), col(Assignment.group_chat_id).in_(groups)),
        )
        count = select(func.count()).select_from(Assignment).where(*ours)
        reached = await session.scalar(count.where(Assignment.status != "pending"))
        done = await session.scalar(count.where(Assignment.status == "done"))
    return int(reached or 0), int(done or 0)


def _row(html: str, org_id: int) -> str:
    found = re.search(rf'<tr id="cascade-org-{org_id}".*?</tr>', html, re.S)
    assert found, f"no cascade row for organization {org_id}"
    return found.group(0)


def _cell(row: str, name: str) -> str:
    found = re.search(rf'<(?:td|span) class="{name}"[^>]*>(.*?)</(?:td|span)>', row, re.S)
    assert found, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def _client(world: Any) -> AsyncTestClient[Any]:
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    return AsyncTestClient(app=app)


async def test_the_status_partial_shows_the_cascade_with_a_recount(world):
    cid, launched = await _three_levels(world)
    PROGRESS.clear()
    async with _client(world) as client:
        await sign_in(client, "coordinator")
        page = await client.get(f"/campaigns/{cid}")
        assert page.status_code == 200, page.text
        assert f'hx-get="/campaigns/{cid}/progress"' in page.text and 'id="cascade"' in page.text
        html = (await client.get(f"/campaigns/{cid}/progress")).text
        await sign_in(client, "lead")  # the district's lead: their own subtree only
        lead_html = (await client.get(f"/campaigns/{cid}/progress")).text
        await sign_in(client, "leadership")
        leadership_html = (await client.get(f"/campaigns/{cid}/progress")).text
    order = [int(m) for m in re.findall(r'<tr id="cascade-org-(\d+)"', html)]
    o = world.org
    assert order == [o["province"], o["district"], o["commune"], o["district2"]]  # tree order
    assert "Chưa triển khai: 1 / 4 đơn vị" in html
    province, district = _row(html, o["province"]), _row(html, o["district"])
    commune, idle = _row(html, o["commune"]), _row(html, o["district2"])
    local = (launched + timedelta(minutes=10)).astimezone(TZ).strftime("%d/%m/%Y %H:%M")
    assert _cell(province, "received") == f"{local} +10 phút"
    assert "đơn vị trực thuộc" in _cell(province, "passed-on")
    assert "+1 giờ 0 phút" in _cell(district, "passed-on")
    assert "câu lạc bộ" in _cell(district, "passed-on")
    assert "đơn vị trực thuộc" in _cell(district, "passed-on")
    assert "+40 phút" in _cell(district, "received")
    how = _cell(commune, "passed-on")
    assert "đoàn viên" in how and "nhóm chat" in how
    assert 'data-status="pending"' in idle and "chưa triển khai" in idle
    assert "not-passed-on" in idle and "not-passed-on" not in province
    for org, row in (("province", province), ("district", district), ("commune", commune)):
        reached, done = await _recount(world, cid, org)
        assert (_cell(row, "reached"), _cell(row, "done")) == (str(reached), str(done))
    assert await _recount(world, cid, "province") == (4, 2)
    assert not (await recount_summary(world.db)).drifted
    # Medians over those who acted: received 10, 40, 100; passed on 30, 60, 150 minutes.
    assert "nhận 40 phút · triển khai 1 giờ 0 phút" in html
    lead_rows = [int(m) for m in re.findall(r'<tr id="cascade-org-(\d+)"', lead_html)]
    assert lead_rows == [o["district"], o["commune"]]
    assert _cell(_row(leadership_html, o["province"]), "reached") == "&lt;5"


async def test_the_partial_follows_a_focal_point_live(world):
    district = await actor_of(world, await focal_point_id(world, "d", "district", 7_000_002))
    cid = await world.campaign(targets=("district", "district2"), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with _client(world) as client:
        await sign_in(client, "coordinator")
        before = (await client.get(f"/campaigns/{cid}/progress")).text
        assert "Chưa triển khai: 2 / 2 đơn vị" in before
        task = await _task(world, cid, "district")
        await cascade_service.act(world.db, district, task.id, "decline", "Đang bận tập huấn")
        after = (await client.get(f"/campaigns/{cid}/progress")).text
        await sign_in(client, "leadership")
        leadership = (await client.get(f"/campaigns/{cid}/progress")).text
        await sign_in(client, "coordinator")
        token = client.cookies["coordinator_csrf"]
        await client.post("/language", data={"lang": "en", "_csrf_token": token})
        english = (await client.get(f"/campaigns/{cid}/progress")).text
    assert "Not passed on yet: 1 of 2 organizations" in english
    assert "Through organizations" in english and "Đang bận tập huấn" in english
    row = _row(after, world.org["district"])
    assert "Chưa triển khai: 1 / 2 đơn vị" in after and 'data-status="declined"' in row
    assert "Không thể" in row and "Đang bận tập huấn" in row
    # A typed reason may name someone: leadership reads its category only.
    hidden = _row(leadership, world.org["district"])
    assert "Đang bận tập huấn" not in leadership and "Lý do khác" in hidden


@given(
    st.lists(
        st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)), min_size=0, max_size=30
    )
)
def test_medians_are_the_middle_of_those_who_acted(seconds):
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    moments = [None if s is None else start + timedelta(seconds=s) for s in seconds]
    minutes = [minutes_after(start, m) for m in moments]
    present = sorted(s / 60 for s in seconds if s is not None)
    if not present:
        assert median(minutes) is None
        return
    middle = len(present) // 2
    expected = present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2
    assert abs(median(minutes) - expected) <= 0.1  # each span is kept to a tenth of a minute
    assert minutes_after(None, start) is None


async def test_the_exports_carry_the_response_times_typed(world):
    cid, launched = await _three_levels(world)
    idle = await actor_of(world, await focal_point_id(world, "b", "district2", 7_000_004))
    task = await _task(world, cid, "district2")
    await cascade_service.act(world.db, idle, task.id, "decline", HYPERLINK)
    async with _client(world) as client:
        await sign_in(client, "coordinator")
        book = load_workbook(
            io.BytesIO((await client.get(f"/campaigns/{cid}/export/xlsx")).content)
        )
        text = (await client.get(f"/campaigns/{cid}/export/csv?table=responses")).text
        await sign_in(client, "leadership")
        lead_book = load_workbook(
            io.BytesIO((await client.get(f"/campaigns/{cid}/export/xlsx")).content)
        )
    sheet = book.worksheets[-1]
    rows = list(sheet.iter_rows(values_only=True))
    head = rows[0]
    assert head[:3] == ("Đơn vị", "Cấp", "Trạng thái")
    by_org = {r[0]: r for r in rows[1:]}
    province = by_org["Tỉnh đoàn"]
    received = head.index("Nhận lúc")
    assert province[received] == (launched + timedelta(minutes=10)).astimezone(TZ).replace(
        tzinfo=None, microsecond=0
    )
    to_received = head.index("Số phút đến khi nhận")
    to_passed = head.index("Số phút đến khi triển khai")
    assert province[to_received] == 10.0
    cell = sheet.cell(row=2, column=to_received + 1)  # the province's line: a number, not text
    assert cell.data_type == "n" and cell.number_format == "0.0"
    assert by_org["Huyện đoàn A"][to_passed] == 60.0 and by_org["Huyện đoàn B"][to_passed] is None
    assert province[head.index("Cấp")] == 0 and by_org["Đoàn xã A1"][head.index("Cấp")] == 2
    median_row = by_org["Trung vị"]
    assert (median_row[to_received], median_row[to_passed]) == (40.0, 60.0)
    assert province[head.index("đã nhận tin")] == 4
    reason = head.index("Lý do")
    assert by_org["Huyện đoàn B"][reason] == HYPERLINK  # text, never a formula
    typed = sheet.cell(row=[r[0] for r in rows].index("Huyện đoàn B") + 1, column=reason + 1)
    assert typed.data_type == "s"
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0] == list(head)
    assert [r[0] for r in lines[1:]][:2] == ["Tỉnh đoàn", "Huyện đoàn A"]
    assert float(lines[1][to_received]) == 10.0
    typed_csv = next(r for r in lines if r[0] == "Huyện đoàn B")[reason]
    assert not typed_csv.startswith("=") and typed_csv.endswith(HYPERLINK)
    lead_rows = list(lead_book.worksheets[-1].iter_rows(values_only=True))
    assert lead_rows[0] == head and {r[0] for r in lead_rows[1:]} == set(by_org)
    assert "focal-p" not in str(lead_rows)  # organizations, never people
    assert "Lý do khác" in str(lead_rows) and HYPERLINK not in str(lead_rows)


async def test_the_api_gives_response_times_by_organization(world, api):
    cid, _ = await _three_levels(world)
    PROGRESS.clear()
    answer = await api.get(f"/api/v1/campaigns/{cid}/responses", headers=api.as_("leadership"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["median_minutes_to_received"] == 40.0
    assert body["median_minutes_to_passed_on"] == 60.0 and body["not_passed_on"] == 1
    by_org = {o["organization_id"]: o for o in body["organizations"]}
    district = by_org[world.org["district"]]
    assert district["passed_on_how"] == ["clubs", "suborgs"]
    assert district["minutes_to_received"] == 40.0 and district["minutes_to_passed_on"] == 60.0
    assert district["parent_id"] == world.org["province"]
    assert district["reached"] is None  # a count under five, for leadership
    assert "focal" not in answer.text  # organizations, never people
    outsider = await api.get(
        f"/api/v1/campaigns/{cid}/responses", headers=api.as_("outsider_coordinator")
    )
    assert outsider.status_code == 404
