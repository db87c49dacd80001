"""Vietnamese pages say nothing in English: pages and their error paths, rendered in `vi`, show
no English message id of the catalogs (one whose Vietnamese text differs), no raw zone name and
no lowercase platform code; dates and numbers take the Vietnamese form."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from coordinator.i18n import _catalog, translate
from coordinator.web.filters import number
from tests.conftest import open_database
from tests.factories import World, build_world
from tests.web.test_web_authorization import sign_in

PLACEHOLDER = re.compile(r"\{[^}]*\}")
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
# The product's name and the test world's user names: data, though "lead" is also an id.
NAMES = {
    "Coordinator",
    "admin",
    "coordinator",
    "lead",
    "leadership",
    "outsider_coordinator",
    "outsider_lead",
}


class _Visible(HTMLParser):
    """The text a reader meets: text nodes outside scripts and styles, and the labels that
    assistive technology reads out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        self.texts += [v for k, v in attrs if k in SHOWN_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.texts


def english_ids() -> tuple[set[str], set[str]]:
    """(whole, fragments): ids that must not be a text node on their own, and pieces long
    enough to be English wherever they appear (a sentence, or the fixed part around values)."""
    whole, fragments = set(), set()
    for msgid, vi in _catalog("vi").items():
        if vi == msgid or not re.search(r"[a-z]", msgid):
            continue
        pieces = [p.strip(" .:;,()") for p in PLACEHOLDER.split(msgid)]
        fragments |= {p for p in pieces if len(p.split()) >= 3}
        if not PLACEHOLDER.search(msgid):
            whole.add(msgid)
    return whole, fragments


def leaks(html: str) -> list[str]:
    whole, fragments = english_ids()
    whole = {w.lower() for w in whole}
    found = []
    for text in visible_texts(html):
        if text.lower() in whole and text not in NAMES:
            found.append(text)
        if re.search(r"\b[a-z]+_[a-z_]+: ", text):  # a field's code before its problem
            found.append(text)
        found += [f"{f!r} in {text!r}" for f in fragments if f in text]
        if "Asia/Ho_Chi_Minh" in text or re.search(r"\b(facebook|youtube|tiktok|zalo) ·", text):
            found.append(text)
    return found


@pytest.fixture
async def site(template_url: str, tmp_path: Any) -> AsyncIterator[tuple[World, Any]]:
    from coordinator.app import create_app
    from coordinator.settings import read_settings

    database = await open_database(template_url, tmp_path)
    world = await build_world(database)
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": database.url}))
    async with AsyncTestClient(app=app) as client:
        yield world, client
    await database.dispose()


async def _post(client: Any, path: str, data: dict[str, Any], **kw: Any) -> Any:
    headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
    return await client.post(path, data=data, headers=headers, follow_redirects=True, **kw)


def _campaign_form(world: World, **changes: str) -> dict[str, str]:
    form = {
        "title": "Lan tỏa",
        "brief": "",
        "launch_at": "2026-12-20T08:00",
        "deadline_at": "2026-12-24T20:00",
        "delivery_mode": "dm",
        "agreement_id": str(world.agreement["province"]),
    }
    return {**form, **changes}


async def _pages_and_errors(world: World, client: Any) -> dict[str, str]:
    """Every page an administrator meets, and the error paths, as HTML by name."""
    campaign = await world.campaign()
    shown: dict[str, str] = {}
    for path in (
        "/",
        "/campaigns",
        "/campaigns/new",
        f"/campaigns/{campaign}",
        f"/campaigns/{campaign}/edit",
        f"/campaigns/{campaign}/launch",
        "/participation",
        "/organizations",
        f"/organizations/{world.org['province']}",
        "/members",
        "/members/import",
        "/agreements",
        "/users",
        "/account",
        "/audit",
        "/tokens",
        "/campaigns/999999",
    ):
        shown[path] = (await client.get(path)).text
    bad = _campaign_form(world, title="", deadline_at="2026-12-19T08:00")
    shown["create errors"] = (await _post(client, "/campaigns", bad)).text
    outside = _campaign_form(world, launch_at="2030-01-01T08:00", deadline_at="2030-01-02T08:00")
    shown["agreement dates"] = (await _post(client, "/campaigns", outside)).text
    shown["edit errors"] = (await _post(client, f"/campaigns/{campaign}", bad)).text
    item = {"url": "https://www.facebook.com/someone-else/posts/1", "kind": "post"}
    shown["content refused"] = (await _post(client, f"/campaigns/{campaign}/items", item)).text
    check = {"url": item["url"], "agreement_id": str(world.agreement["province"])}
    shown["url check"] = (await _post(client, "/campaigns/check-url", check)).text
    rows = "ho ten,ma,clb\n" + "x" * 201 + ",A1,\nAn,A2,CLB không có\nAn,A2,\n"
    files = {"file": ("members.csv", rows.encode(), "text/csv")}
    org = {"organization_id": str(world.org["district"])}
    shown["import errors"] = (await _post(client, "/members/import", org, files=files)).text
    agreement = {"title": "", "signed_on": "x", "valid_from": "2026-12-31", "valid_until": "2026"}
    shown["agreement errors"] = (await _post(client, "/agreements", agreement)).text
    user = {"username": "coordinator", "password": "short", "role": "lead"}
    shown["user errors"] = (await _post(client, "/users", user)).text
    return shown


async def test_vietnamese_pages_and_error_paths_show_no_english(site):
    world, client = site
    await sign_in(client, "admin")
    shown = await _pages_and_errors(world, client)
    await _post(client, "/signout", {})
    await sign_in(client, "lead")
    shown["403"] = (await client.get("/users")).text
    await _post(client, "/signout", {})
    await client.get("/signin")
    wrong = {"username": "admin", "password": "wrong password"}
    shown["sign-in error"] = (await _post(client, "/signin", wrong)).text
    found = {name: leaks(html) for name, html in shown.items()}
    bad = {name: texts for name, texts in found.items() if texts}
    assert bad == {}
    text = {name: " | ".join(visible_texts(html)) for name, html in shown.items()}
    assert "Tên: 1-200 ký tự" in text["import errors"]
    assert "câu lạc bộ 'CLB không có' không có trong tổ chức đó" in text["import errors"]
    assert "Chưa nhập gì: 3 dòng có lỗi." in text["import errors"]
    assert "có hiệu lực từ 10/01/2026 đến 31/12/2027" in text["agreement dates"]
    assert "chọn một hoặc nhiều việc khác nhau" in text["content refused"]
    assert "không thuộc kênh chính thức" in text["url check"]
    assert "cần ít nhất 10 ký tự" in text["user errors"]
    assert "(giờ Việt Nam)" in text["/campaigns/new"]
    # The audit log reads as sentences: who, what, and the object by its name with a link.
    assert "coordinator | đã tạo chiến dịch | Cảnh giác lừa đảo trực tuyến" in text["/audit"]
    assert (
        re.search(r'<a href="/campaigns/\d+">Cảnh giác', shown["/audit"])
        and "campaign.create" not in text["/audit"]
    )


def test_the_check_finds_english():
    assert leaks("<p>This page does not exist, or you may not see it.</p>")
    assert leaks('<nav aria-label="pages"></nav><p>Sign in</p>') == ["pages", "Sign in"]
    assert leaks("<td>display_name: 1-200 ký tự</td>")
    assert leaks("<p>one or more distinct of share, react</p>")
    assert leaks("<p>Launch at (Asia/Ho_Chi_Minh)</p>")
    assert leaks("<li>facebook · Trang</li>")
    assert leaks("<p>Đăng nhập</p><script>var a = 'Sign in'</script>") == []


def test_dates_numbers_and_refusals_take_the_language_form():
    assert number(1234, "vi") == "1.234" and number(1234, "en") == "1,234"
    assert number(None, "vi") == "" and number("–", "vi") == "–"
    values = {
        "valid_from": date(2026, 1, 10),
        "valid_until": date(2027, 12, 31),
        "first": date(2028, 1, 1),
        "last": date(2028, 1, 2),
    }
    message = (
        "The agreement is valid from {valid_from} to {valid_until}; "
        "the campaign runs {first} to {last}."
    )
    assert "10/01/2026" in translate("vi", message, **values)
    assert "10 Jan 2026" in translate("en", message, **values)
