"""Signing in and out in a real browser, as each role, and what a wrong password shows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Pages, open_menu, screenshot

MENUS = {
    "admin": ["Người dùng", "Nhật ký hệ thống", "Mô phỏng tình nguyện viên"],
    "coordinator": ["Chiến dịch", "Quy chế phối hợp", "Đoàn viên"],
    "lead": ["Đoàn viên", "Đơn vị"],
    "leadership": ["Chiến dịch", "Quy chế phối hợp"],
}
NOT_IN_MENU = {
    "admin": [],
    "coordinator": ["Người dùng", "Nhật ký hệ thống"],
    "lead": ["Người dùng"],
    "leadership": ["Đoàn viên", "Người dùng", "Mô phỏng tình nguyện viên"],
}


@pytest.mark.parametrize("role", list(MENUS))
def test_each_role_signs_in_sees_its_menu_and_signs_out(pages: Pages, role: str):
    page = pages.signed_in(role)
    expect(page).to_have_title(re.compile("Tổng quan"))
    menu = page.get_by_role("navigation", name="Menu chính")
    for label in MENUS[role]:
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    for label in NOT_IN_MENU[role]:
        expect(menu.get_by_role("link", name=label, exact=True)).to_have_count(0)
    screenshot(page, f"dashboard-{role}")
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("status")).to_contain_text("Bạn đã đăng xuất")
    page.goto("/campaigns")
    expect(page).to_have_url(re.compile(r"/signin\?next=/campaigns"))


def test_a_wrong_password_says_so_without_telling_whether_the_user_exists(pages: Pages):
    page = pages.new()
    page.goto("/signin")
    messages = []
    for username in ("coordinator", "nobody-here"):
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill("wrong password 123")
        page.get_by_role("button", name="Đăng nhập").click()
        messages.append(page.get_by_role("alert").inner_text())
    assert messages[0] == messages[1] == "Sai tên đăng nhập hoặc mật khẩu."
    screenshot(page, "signin-error")


def test_english_is_one_click_away_and_sticks_after_sign_in(pages: Pages):
    page = pages.new(phone=True)
    page.goto("/signin")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in_english(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    open_menu(page)
    page.get_by_role("button", name="Tiếng Việt").click()
    expect(page.get_by_role("heading", name="Tổng quan")).to_be_visible()


def sign_in_english(page):  # type: ignore[no-untyped-def]
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill("demo-password-2026")
    page.get_by_role("button", name="Sign in").click()


def test_the_account_page_lists_this_browser_and_ends_another_session(pages: Pages):
    other = pages.signed_in("leadership")
    page = pages.signed_in("leadership", phone=True)
    open_menu(page)
    page.get_by_role("link", name="leadership").click()
    expect(page.get_by_role("heading", name="Tài khoản của bạn")).to_be_visible()
    expect(page.get_by_text("trình duyệt này")).to_be_visible()
    screenshot(page, "account-sessions")
    page.get_by_role("button", name="Đăng xuất ở mọi nơi khác").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đăng xuất")
    other.goto("/campaigns")
    expect(other).to_have_url(re.compile(r"/signin\?next=/campaigns"))
