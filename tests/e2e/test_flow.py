"""The whole product in a real browser: import, agreement, channel, campaign with preview, launch,
two volunteers press Done in the simulator, and the status page updates without a reload. It runs
twice, at desktop size and at phone size, each time on a fresh server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Pages, Server, open_menu, open_pages, screenshot, serve
from tests.e2e.flows import press_done

AGREEMENT = "Chương trình phối hợp tuyên truyền an toàn giao thông"
CHANNEL_URL = "https://www.facebook.com/atgt.congantinh"
YOUTUBE_URL = "https://www.youtube.com/@atgtcongantinh"
YOUTUBE_NAME = "Kênh video An toàn giao thông"
VIDEO_URL = "https://youtu.be/mubaohiem26"  # a video link names no channel
TITLE = "Đội mũ bảo hiểm đúng cách"
VALID_FROM = date.today()
VALID_UNTIL = VALID_FROM + timedelta(days=365)


@pytest.fixture(scope="module", params=["desktop", "phone"])
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(size: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh server for each size: the flow creates rows a second run would find taken."""
    yield from serve(tmp_path_factory)


@pytest.fixture
def pages(browser: Browser, server: Server, size: str) -> Iterator[Pages]:
    yield from open_pages(browser, server, phone=size == "phone")


def _upload(page: Page, path: Path) -> None:
    page.goto("/members/import")
    page.get_by_label("Tệp").set_input_files(str(path))
    page.get_by_role("button", name="Kiểm tra tệp").click()


def _import_members(pages: Pages, tmp_path: Path) -> None:
    page = pages.signed_in("lead")
    bad = tmp_path / "thieu-ten.csv"
    bad.write_text("họ tên,mã\nNguyễn Văn Mới,NEW001\n,NEW002\n", encoding="utf-8")
    _upload(page, bad)
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("Chưa nhập gì: 1 dòng có lỗi.")
    expect(errors.get_by_role("row").filter(has_text="3")).to_contain_text("Tên: 1-200 ký tự")
    screenshot(page, "import-errors")
    page.goto("/members?q=NEW00")
    expect(page.get_by_text("Không có đoàn viên phù hợp")).to_be_visible()  # nothing was saved

    good = tmp_path / "doan-vien.csv"
    good.write_text("họ tên,mã\nNguyễn Văn Mới,NEW001\nTrần Thị Hai,NEW002\n", encoding="utf-8")
    _upload(page, good)
    expect(page.locator("#import-preview")).to_contain_text("2 đoàn viên mới")
    page.get_by_role("button", name="Nhập ngay").click()
    expect(page.get_by_role("status")).to_contain_text("Đã nhập: 2 mới")
    expect(page.get_by_role("cell", name="Trần Thị Hai")).to_be_visible()
    screenshot(page, "members")


def _agreement_and_channel(pages: Pages) -> None:
    page = pages.signed_in("admin")
    page.goto("/agreements")
    page.get_by_label("Tiêu đề").fill(AGREEMENT)
    parties = page.get_by_role("group", name="Các bên")
    parties.get_by_label("Tỉnh đoàn Bình Minh", exact=True).check()
    parties.get_by_label("Đoàn Thanh niên Công an tỉnh", exact=True).check()
    page.get_by_label("Ngày ký").fill(VALID_FROM.isoformat())
    page.get_by_label("Hiệu lực từ").fill(VALID_FROM.isoformat())
    page.get_by_label("Hiệu lực đến").fill(VALID_UNTIL.isoformat())
    page.get_by_label("Đơn vị chủ trì").select_option(label="Tỉnh đoàn Bình Minh")
    page.get_by_role("button", name="Lưu quy chế").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu quy chế")
    expect(page.get_by_role("row").filter(has_text=AGREEMENT)).to_contain_text("còn hiệu lực")
    screenshot(page, "agreements")

    page.goto("/organizations")
    page.get_by_role("link", name="Đoàn Thanh niên Công an tỉnh").click()
    page.get_by_label("Nền tảng").select_option("facebook")
    page.get_by_label("Tên").fill("An toàn giao thông - Công an tỉnh")
    page.get_by_label("Địa chỉ (URL)").fill(CHANNEL_URL)
    page.get_by_role("button", name="Đăng ký kênh").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đăng ký kênh")
    page.get_by_label("Nền tảng").select_option("youtube")
    page.get_by_label("Tên").fill(YOUTUBE_NAME)
    page.get_by_label("Địa chỉ (URL)").fill(YOUTUBE_URL)
    page.get_by_role("button", name="Đăng ký kênh").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đăng ký kênh")
    screenshot(page, "organization")


def _campaign(pages: Pages) -> tuple[Page, str]:
    page = pages.signed_in("coordinator")
    page.goto("/campaigns/new")
    page.get_by_label("Quy chế phối hợp").select_option(
        label=f"{AGREEMENT} ({VALID_FROM:%d/%m/%Y}–{VALID_UNTIL:%d/%m/%Y})"
    )
    page.get_by_label("Tiêu đề").fill(TITLE)
    page.get_by_label("Lời nhắn cho tình nguyện viên").fill("Chia sẻ video & nhắc bạn bè <3")
    preview = page.locator("#preview")
    expect(preview.locator("figure[lang=vi] .bubble")).to_contain_text(TITLE)
    expect(preview.locator("figure[lang=en] .bubble")).to_contain_text("Deadline")
    expect(preview.locator("figure[lang=vi]")).to_contain_text("Hạn chót")
    expect(preview.locator("figure[lang=vi] .bubble")).to_contain_text("& nhắc bạn bè <3")
    screenshot(page, "campaign-new")
    page.get_by_role("button", name="Lưu nháp").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu bản nháp")

    url = page.get_by_label("Liên kết tới bài đăng")
    url.fill("https://www.facebook.com/someone-else/posts/1")
    expect(page.locator("#url-check")).to_contain_text("✗")
    url.fill(CHANNEL_URL + "/videos/2026")
    expect(page.locator("#url-check")).to_contain_text("✓ Trên kênh An toàn giao thông")
    page.get_by_role("button", name="Thêm nội dung").click()
    expect(page.get_by_role("status")).to_contain_text("Đã thêm nội dung")
    expect(page.locator("#preview figure[lang=vi] .bubble")).to_contain_text("/videos/2026")
    _video_on_a_chosen_channel(page)

    targets = page.locator("#targets")
    targets.get_by_label(re.compile(r"Thành đoàn Bình Minh \(")).check()
    targets.get_by_role("button", name="Lưu đối tượng nhận").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu đối tượng nhận")
    screenshot(page, "campaign-edit")

    page.get_by_role("link", name="Phát động…").first.click()
    audience = page.locator("#audience")
    expect(audience).to_contain_text(re.compile(r"tới \d+ tình nguyện viên"))
    screenshot(page, "campaign-launch")
    page.get_by_role("button", name="Phát động ngay").click()
    expect(page.get_by_role("status")).to_contain_text("Đã phát động")
    return page, page.url


def _video_on_a_chosen_channel(page: Page) -> None:
    """A YouTube video's link names no channel: the coordinator picks the registered one."""
    page.get_by_label("Liên kết tới bài đăng").fill(VIDEO_URL)
    expect(page.locator("#url-check")).to_contain_text("không cho biết kênh nào đã đăng")
    choice = page.get_by_label("Kênh đã đăng nội dung này")
    expect(choice.locator("option")).to_contain_text(["Chọn kênh", YOUTUBE_NAME])
    expect(choice).not_to_contain_text("Công an tỉnh ·")  # the Facebook page is no candidate
    choice.select_option(label=f"{YOUTUBE_NAME} · {YOUTUBE_URL}")
    page.get_by_label("Xem", exact=True).check()
    page.get_by_role("button", name="Thêm nội dung").click()
    expect(page.get_by_role("status")).to_contain_text("Đã thêm nội dung")
    expect(page.locator("#content ol")).to_contain_text(VIDEO_URL)


def _copy_link(page: Page) -> None:
    """The status page copies a content link; without script the same control opens it."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.get_by_role("link", name="Sao chép liên kết").first
    expect(copy).to_have_attribute("href", CHANNEL_URL + "/videos/2026")
    copy.click()
    expect(page.locator(".copy-status").first).to_have_text("Đã sao chép liên kết.")
    assert page.evaluate("navigator.clipboard.readText()") == CHANNEL_URL + "/videos/2026"
    assert re.search(r"/campaigns/\d+$", page.url)  # it copied instead of leaving


def _press_done_as(page: Page, position: int) -> None:
    page.goto("/simulator")
    page.locator("ul.people").first.get_by_role("link").nth(position).click()
    press_done(page, TITLE)


def _send_and_follow(page: Page, text: str) -> None:
    """Typed and sent: the composer empties and the chat shows its newest message."""
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    expect(page.locator(".msg.from-me").last).to_have_text(text, timeout=10_000)
    expect(page.locator("#text")).to_have_value("")
    expect(page.locator(".msg").last).to_have_class(re.compile("from-bot"), timeout=15_000)
    page.wait_for_function(
        "() => { const c = document.getElementById('chat');"
        " return c.scrollTop + c.clientHeight >= c.scrollHeight - 2; }",
        timeout=10_000,
    )


def test_a_campaign_from_import_to_two_volunteers_done(pages: Pages, tmp_path: Path):
    _import_members(pages, tmp_path)
    _agreement_and_channel(pages)
    status, status_url = _campaign(pages)
    assert re.search(r"/campaigns/\d+$", status_url)
    done = status.locator("#total-done")
    expect(done).to_have_text("0")
    reloads: list[str] = []
    status.on("load", lambda _: reloads.append(status.url))

    volunteer = pages.signed_in("lead", phone=True)
    _press_done_as(volunteer, 0)
    screenshot(volunteer, "simulator")
    _press_done_as(volunteer, 1)
    volunteer.get_by_role("button", name="/tasks").click()
    expect(volunteer.locator(".msg.from-me").last).to_have_text("/tasks")  # not ['', '/tasks']
    expect(volunteer.locator(".msg").last).to_have_class(re.compile("from-bot"), timeout=15_000)
    _send_and_follow(volunteer, "/help")

    expect(done).to_have_text("2", timeout=20_000)  # htmx polling, no reload
    assert reloads == []
    expect(status.locator("#by-org")).to_contain_text("Thành đoàn Bình Minh")
    screenshot(status, "campaign-status")
    _copy_link(status)
    leadership = pages.signed_in("leadership", phone=True)
    leadership.goto("/participation")
    expect(leadership.locator("#period-orgs")).to_contain_text("Thành đoàn Bình Minh")
    expect(leadership.locator("#period-orgs")).not_to_contain_text("Dương")  # no names here
    screenshot(leadership, "participation-leadership-phone")
    # Off the polling status page first: a poll the server answers just after the sign-out
    # is a 401, which the browser logs as a console error (a race, not a fault).
    status.goto("/campaigns")
    open_menu(status)
    status.get_by_role("button", name="Đăng xuất").click()
    expect(status).to_have_url(re.compile("/signin"))
