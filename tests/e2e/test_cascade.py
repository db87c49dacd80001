"""A campaign through organizations in a real browser: a coordinator of a party organization
drafts it under the agreement, a coordinator of the lead organization approves and launches it,
two focal points act on it in their own Telegram chats in the simulator (one receives it and
passes it on to the members, the other to its clubs), a member presses Done, and the status page
follows without a reload. Desktop and phone size, each on a fresh server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select, update

from coordinator.auth.models import User
from coordinator.auth.service import create_user
from coordinator.campaigns.cascade_service import set_focal_points
from coordinator.db import Database
from coordinator.organizations.models import Organization
from tests.e2e.conftest import PASSWORD, Pages, Server, _run, open_pages, screenshot, serve
from tests.e2e.flows import bot_message, fits_and_reads_vietnamese, open_chat, press, press_done

AGREEMENT = "Quy chế phối hợp tuyên truyền trên không gian mạng 2026-2027 (15/01/2026–31/12/2027)"
PARTY = "Đoàn Thanh niên Công an tỉnh"  # a party of the demo agreement, not its lead
CITY = "Thành đoàn Bình Minh"  # below the lead; the demo's `lead` is its lead
CITY_CLUB = "CLB Tình nguyện viên không gian mạng"
TITLE = "Nói không với tin giả"
POST = "https://www.facebook.com/congantinhbinhminh/posts/2026"
# Telegram ids of the two focal points' own accounts, linked before the server starts: the
# sandbox then knows them, as it knows linked members.
TELEGRAM = {"police-lead": 7_900_000_001, "lead": 7_900_000_002}


@pytest.fixture(scope="module", params=["desktop", "phone"])
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(size: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve(tmp_path_factory, lambda url: _run(_focal_points(url)))


@pytest.fixture
def pages(browser: Browser, server: Server, size: str) -> Iterator[Pages]:
    yield from open_pages(browser, server, phone=size == "phone")


async def _focal_points(database_url: str) -> None:
    """What the demo lacks: the party's coordinator and lead, and focal points in Telegram
    for the party and for the city union (its lead)."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            orgs = dict((await session.execute(select(Organization.name, Organization.id))).all())
        party, city = orgs[PARTY], orgs[CITY]
        for username, role in (("police-coordinator", "coordinator"), ("police-lead", "lead")):
            await create_user(
                db, None, username=username, password=PASSWORD, role=role, organization_id=party
            )
        async with db.write() as session:
            for username, telegram_id in TELEGRAM.items():
                await session.execute(
                    update(User)
                    .where(col(User.username) == username)
                    .values(telegram_user_id=telegram_id)
                )
            ids = dict((await session.execute(select(User.username, User.id))).all())
        await set_focal_points(db, None, party, [ids["police-lead"]])
        await set_focal_points(db, None, city, [ids["lead"]])
    finally:
        await db.dispose()


def _draft_and_submit(pages: Pages) -> None:
    page = pages.signed_in("police-coordinator")
    page.goto("/campaigns/new")
    page.get_by_label("Quy chế phối hợp").select_option(label=AGREEMENT)
    page.get_by_label("Tiêu đề").fill(TITLE)
    page.get_by_label("Lời nhắn cho tình nguyện viên").fill("Chia sẻ bài viết của Công an tỉnh")
    page.get_by_label("Cách gửi").select_option(value="org")
    fits_and_reads_vietnamese(page)
    page.get_by_role("button", name="Lưu nháp").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu bản nháp")
    page.get_by_label("Liên kết tới bài đăng").fill(POST)
    page.get_by_role("button", name="Thêm nội dung").click()
    expect(page.get_by_role("status")).to_contain_text("Đã thêm nội dung")
    targets = page.locator("#targets")
    for name in (PARTY, CITY):
        targets.get_by_label(re.compile(re.escape(name) + r" \(")).check()
    targets.get_by_role("button", name="Lưu đối tượng nhận").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu đối tượng nhận")
    page.goto(re.sub(r"/edit.*$", "", page.url))
    expect(page.get_by_role("link", name="Phát động…")).to_have_count(0)  # not before approval
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.get_by_text("Đang chờ tổ chức chủ trì quy chế phối hợp duyệt.")).to_be_visible()


def _approve_and_launch(pages: Pages) -> Page:
    page = pages.signed_in("coordinator")  # of the agreement's lead organization
    page.locator(".waiting-approval").get_by_role("link", name=TITLE).click()
    page.get_by_role("button", name="Duyệt", exact=True).click()
    page.get_by_role("link", name="Phát động…").first.click()
    expect(page.locator("#audience")).to_contain_text("đầu mối")
    expect(page.locator("#unserved")).to_have_count(0)  # both organizations have one in Telegram
    page.get_by_role("button", name="Phát động ngay").click()
    expect(page.get_by_role("status")).to_contain_text("Đã phát động")
    fits_and_reads_vietnamese(page)
    return page


def _receive_and_pass_to_members(pages: Pages) -> int:
    """The party's focal point: Received, then to all members; how many it said it reaches."""
    page = pages.signed_in("police-lead", phone=True)
    page.goto("/simulator")
    expect(page.locator("#staff")).to_contain_text(PARTY)
    fits_and_reads_vietnamese(page)
    open_chat(page, "police-lead")
    task = bot_message(page, TITLE)
    expect(task).to_contain_text(f"Gửi {PARTY}: một chiến dịch cần triển khai")
    reach = re.search(r"Có thể đến (\d+) đoàn viên", task.inner_text())
    assert reach is not None and int(reach[1]) > 0
    press(page, task, re.compile("Đã nhận"), "Đã ghi nhận: Đã nhận")
    expect(task).to_contain_text("Trạng thái: Đã nhận", timeout=15_000)
    press(page, task, re.compile("Triển khai xuống"), "Chọn cách triển khai.")
    press(page, task, re.compile("Tất cả đoàn viên"), "Đã triển khai.")
    expect(task).to_contain_text("Trạng thái: Đã triển khai (Tất cả đoàn viên", timeout=15_000)
    fits_and_reads_vietnamese(page)
    screenshot(page, "cascade-focal-point")
    page.goto("/simulator")  # one of the party's own members, reached by that pass-on
    volunteers = page.locator("ul.people").first
    volunteers.get_by_role("listitem").filter(has_text=PARTY).first.get_by_role("link").click()
    press_done(page, TITLE)
    return int(reach[1])


def _pass_to_clubs(pages: Pages) -> None:
    page = pages.signed_in("lead")  # the city union's lead is its focal point
    open_chat(page, "lead")
    task = bot_message(page, TITLE)
    expect(task).to_contain_text(f"Gửi {CITY}")
    press(page, task, re.compile("Triển khai xuống"), "Chọn cách triển khai.")
    press(page, task, re.compile("Các câu lạc bộ"), "Đã triển khai.")
    expect(task).to_contain_text("Trạng thái: Đã triển khai (Các câu lạc bộ", timeout=15_000)


def test_a_party_drafts_the_lead_approves_and_two_focal_points_pass_it_on(pages: Pages):
    _draft_and_submit(pages)
    status = _approve_and_launch(pages)
    assigned = status.locator("#total-assigned")
    expect(assigned).to_have_text("0")  # the organizations have it; no member has yet
    reloads: list[str] = []
    status.on("load", lambda _: reloads.append(status.url))

    members = _receive_and_pass_to_members(pages)
    expect(assigned).to_have_text(str(members), timeout=20_000)  # htmx polling, no reload
    expect(status.locator("#total-done")).to_have_text("1", timeout=20_000)
    _pass_to_clubs(pages)
    progress = status.locator("#progress")  # the part htmx refreshes, whatever its layout
    expect(progress).to_contain_text(CITY_CLUB, timeout=20_000)
    expect(progress).to_contain_text(PARTY)
    expect(progress).to_contain_text(CITY)
    assert int(assigned.inner_text()) > members  # the clubs' members came on top
    assert reloads == []
    fits_and_reads_vietnamese(status)
    screenshot(status, "cascade-status")
