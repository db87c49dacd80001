"""Every page each role can reach, at phone (390x844) and desktop (1280x800) size: nothing may be
wider than the screen. The pages are found by following the links from the dashboard (one sample
per route, so the detail pages of a campaign, organization or member are opened too).

With COORDINATOR_SCREENSHOTS=1 the same walk saves docs/screenshots/<role>-<page>-<size>.png."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page
from sqlmodel import col, func, select

from coordinator.campaigns.models import Assignment, Campaign
from coordinator.db import Database
from tests.e2e.conftest import DESKTOP, OUTPUT, PHONE, ROOT, Pages, _run

ROLES = ("admin", "coordinator", "lead", "leadership")
SHOTS = ROOT / "docs" / "screenshots"
MOST_PAGES = 80
SKIPPED = re.compile(r"^/(static|api|signout|language|health|metrics)\b|export|\.(csv|xlsx)$")
CLIP_HEIGHT = 2000

# Every visible element whose box leaves the screen, unless a scrolling box holds it.
OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`page ${document.documentElement.scrollWidth}px`);
  }
  const scrolls = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(up).overflowX)) return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.skip, .sr-only, .menu-toggle')) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if ((box.right > width + 0.5 || box.left < -0.5 || box.width > width) && !scrolls(el)) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (typeof el.className === 'string' && el.className ? '.' + el.className : '');
      found.push(`${name} ${Math.round(box.left)}..${Math.round(box.right)}px`);
    }
    if (found.length >= 6) break;
  }
  return found;
}"""


def _route(path: str) -> str:
    """One sample per route: /campaigns/12/edit and /campaigns/7/edit are the same page."""
    return re.sub(r"/\d+(?=/|$)", "/id", path.rstrip("/") or "/")


def _page_name(route: str) -> str:
    return "dashboard" if route == "/" else route.strip("/").replace("/", "-")


def _links(page: Page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    paths = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" == origin and not SKIPPED.search(parts.path):
            paths.append(parts.path)
    return paths


def _is_html_page(page: Page, path: str) -> bool:
    """A whole page (not an htmx partial, a download or a redirect) that this user may open."""
    answer = page.request.get(path, max_redirects=0)
    return (
        answer.status == 200
        and "text/html" in answer.headers.get("content-type", "")
        and answer.text().lstrip().lower().startswith("<!doctype html")
    )


def _app_routes() -> list[str]:
    """The app's GET pages, e.g. /campaigns/{campaign_id:int}/edit."""
    from coordinator.app import create_app

    paths = {
        route.path
        for route in create_app().routes
        if "GET" in getattr(route, "methods", ()) and not SKIPPED.search(route.path)
    }
    return sorted(p for p in paths if not p.startswith("/schema") and p.count("{") <= 1)


def _samples(template: str, seen: list[str]) -> list[str]:
    """Paths for `template` filled with ids met in links under the same prefix."""
    if "{" not in template:
        return [template]
    prefix = template[: template.index("{")]
    ids = {m.group(1) for p in seen if (m := re.match(re.escape(prefix) + r"(\d+)", p))}
    return [re.sub(r"\{[^}]+:int\}", i, template) for i in sorted(ids)[:12]]


def _busiest_campaigns(database_url: str) -> list[str]:
    """The running campaigns, the one with the most replies first: the status page's sample
    (the first campaign linked was a cancelled one, whose screenshots showed only zeros)."""

    async def read() -> list[int]:
        db = Database(database_url)
        try:
            async with db.read() as session:
                replies = func.count(col(Assignment.acknowledged_at))
                found = await session.scalars(
                    select(Campaign.id)
                    .join(Assignment, col(Assignment.campaign_id) == Campaign.id)
                    .where(Campaign.status == "active")
                    .group_by(col(Campaign.id))
                    .order_by(replies.desc(), col(Campaign.id))
                )
                return [int(i) for i in found if i is not None]
        finally:
            await db.dispose()

    return [f"/campaigns/{i}" for i in _run(read())]


def _reachable(page: Page, origin: str, first: list[str]) -> dict[str, str]:
    """route -> a sample path: `first` (the first of them this user may open wins its route),
    then the links followed breadth-first from the dashboard, then every other GET page of the
    app, filled with ids met on the way."""
    found: dict[str, str] = {}
    seen: list[str] = []
    queue = ["/", *first]
    while queue and len(found) < MOST_PAGES:
        path = queue.pop(0)
        route = _route(path)
        if route in found or not _is_html_page(page, path):
            continue
        found[route] = path
        page.goto(path)
        links = _links(page, origin)
        seen += links
        queue += [link for link in links if _route(link) not in found]
    for template in _app_routes():
        for path in _samples(template, seen):
            if _route(path) in found:
                break
            if _is_html_page(page, path):
                found[_route(path)] = path
                break
    return found


def _overflow(page: Page) -> list[str]:
    return list(page.evaluate(OVERFLOW_JS))


def _save(page: Page, name: str) -> None:
    height = min(CLIP_HEIGHT, int(page.evaluate("document.documentElement.scrollHeight")))
    width = page.viewport_size["width"] if page.viewport_size else DESKTOP["width"]
    page.screenshot(
        path=str(SHOTS / f"{name}.png"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": height},
        scale="css",
        animations="disabled",
    )


def _walk(page: Page, role: str, size: str, routes: dict[str, str]) -> list[str]:
    problems, heights = [], []
    for route, path in routes.items():
        answer = page.goto(path)
        assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
        if wide := _overflow(page):
            problems.append(f"{role} {size} {path}: " + "; ".join(wide))
        heights.append(f"{role} {size} {path} {page.evaluate('document.body.scrollHeight')}px")
        if os.environ.get("COORDINATOR_SCREENSHOTS") == "1":
            _save(page, f"{role}-{_page_name(route)}-{size}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with (OUTPUT / "page-heights.txt").open("a", encoding="utf-8") as report:
        report.write("\n".join(heights) + "\n")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_no_page_is_wider_than_the_screen(pages: Pages, role: str):
    if os.environ.get("COORDINATOR_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
    desktop = pages.signed_in(role, phone=False)
    busiest = _busiest_campaigns(pages.server.database_url)
    routes = _reachable(desktop, pages.server.url, busiest)
    assert len(routes) >= 5, f"only {sorted(routes)} reachable as {role}"
    assert routes["/campaigns/id"] in busiest, "the campaign sample is not a running one"
    problems = _walk(desktop, role, "desktop", routes)
    phone = pages.signed_in(role, phone=True)
    assert phone.viewport_size == PHONE
    problems += _walk(phone, role, "phone", routes)
    assert problems == [], f"{len(problems)} page(s) overflow:\n" + "\n".join(problems)


def test_the_phone_menu_opens_and_closes(pages: Pages):
    page = pages.signed_in("coordinator", phone=True)
    menu = page.get_by_role("navigation", name="Menu chính")
    assert not menu.is_visible()
    page.locator("label.menu-button").click()
    assert menu.get_by_role("link", name="Chiến dịch", exact=True).is_visible()
    assert page.get_by_role("button", name="Đăng xuất").is_visible()
    page.locator("label.menu-button").click()
    assert not menu.is_visible()
    wide = pages.signed_in("coordinator", phone=False)
    assert wide.get_by_role("navigation", name="Menu chính").is_visible()
    assert not wide.locator("label.menu-button").is_visible()


CARD_TABLES = ("/members", "/users", "/campaigns", "/audit", "/participation")
ROW_LOOK = """table => {
  const row = table.querySelector('tbody tr');
  const cell = table.querySelector('tbody td[data-label]');
  const label = cell && !table.classList.contains('compact')
    ? getComputedStyle(cell, '::before').content : ': "';  // a long list shows values only
  return [getComputedStyle(row).display, label];
}"""


def test_wide_tables_are_cards_on_a_phone_and_stay_tables(pages: Pages):
    """At 390 px each row of a wide table is a card whose cells say their column's name (a long
    list's cards show the values only, to stay short); the table keeps its role and column
    headers for screen readers. At desktop size it is a table."""
    phone = pages.signed_in("admin", phone=True)
    desktop = pages.signed_in("admin", phone=False)
    for path in CARD_TABLES:
        phone.goto(path)
        table = phone.locator("table.cards").first
        display, label = table.evaluate(ROW_LOOK)
        assert display == "block" and label.endswith(': "'), (path, display, label)
        assert phone.get_by_role("table").count() >= 1, path
        assert phone.get_by_role("columnheader").count() >= 3, path
        assert not _overflow(phone), path
        desktop.goto(path)
        assert desktop.locator("table.cards").first.evaluate(ROW_LOOK)[0] == "table-row", path
