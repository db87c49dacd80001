"""No leadership surface lets a masked count be recomputed.

Leadership sees counts only: a count of one to four people, or any count of a group under five,
is "<5" (tallies/masked.py). This test builds a world with small groups and renders, as
leadership, every page, partial, export (CSV and XLSX, read back) and API answer that carries
tally figures: the dashboard, the participation page, a campaign's status page and its progress
partial, the participation and campaign exports, `GET /api/v1/tallies` and
`GET /api/v1/campaigns/{id}/tally`.

The rule it checks: a rate (done / assigned) is shown only where neither count is masked; so no
percentage, no bar (`<meter>`, a `class="bar"` shape, a rate `<svg>`) and no rate number stands
on a line (table row, totals block, chart week, export row, API line) that holds a masked
count. The world is built so that every line holding a masked count has its `done` masked
(or its group is under five), so any rate on such a line would give the count back; and so that
some lines hold no masked count at all and must show their rate (the check is not vacuous).

What it does not check, by decision: masking is per figure ("primary suppression"). A parent
organization's rolled-up total minus its visible children, or a line's assigned minus its
delivered, may narrow or equal a masked count (here: the province's 20 tasks minus Huyện đoàn
B's 16 are Huyện đoàn A's "<5"). Hiding those differences too ("secondary suppression") would
blank most of a province's tree; the figures that are shown are each a group of five or more.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import update
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.tallies.cache import PROGRESS, TALLIES
from tests.factories import _member
from tests.web.test_web_authorization import sign_in

MASKED_HTML = "&lt;5"
RATE_MARKS = re.compile(r"\d+%|<meter|class=\"bar\"|<svg class=\"rate\"")


async def _done(world: Any, campaign_id: int, member_ids: list[int]) -> None:
    async with world.db.write() as session:
        await session.execute(
            update(Assignment)
            .where(col(Assignment.campaign_id) == campaign_id)
            .values(status="delivered", delivered_at=utcnow() - timedelta(minutes=30))
        )
    async with world.db.read() as session:
        tasks = (
            await session.scalars(
                select(Assignment).where(
                    col(Assignment.campaign_id) == campaign_id,
                    col(Assignment.member_id).in_(member_ids),
                )
            )
        ).all()
    for task in tasks:
        assert task.id is not None and task.member_id is not None
        await record_report(world.db, ReportRequest(task.id, task.member_id, "done"))


async def _small_groups(world: Any) -> tuple[int, int]:
    """Campaign A (this week): 12 tasks, 6 done, all in Huyện đoàn B's 8 (visible: rates shown);
    Huyện đoàn A 3 and Đoàn xã A1 1 (masked). Campaign B (launched last week): Huyện đoàn B's 8
    tasks, 2 done: done masked next to a visible 8 (the "67%" case)."""
    b = [
        await _member(world.db, world.actor["admin"], world.org["district2"], f"Đoàn viên b{n}")
        for n in range(8)
    ]
    a = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], a)
    await _done(world, a, b[:6])
    small = await world.campaign(targets=("district2",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], small)
    await _done(world, small, b[:2])
    async with world.db.write() as session:
        await session.execute(
            update(Campaign)
            .where(col(Campaign.id) == small)
            .values(launched_at=utcnow() - timedelta(days=8))
        )
    TALLIES.clear()
    PROGRESS.clear()
    return a, small


def _html_lines(html: str) -> list[str]:
    """The lines of a page: table rows, totals blocks (with what follows up to the next
    heading), chart weeks."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    rows = re.findall(r"<tr\b.*?</tr>", html, flags=re.S)
    totals = re.findall(r'<section class="tally".*?(?=<h2|\Z)', html, flags=re.S)
    weeks = re.findall(r'<g class="week">.*?</g>', html, flags=re.S)
    return rows + totals + weeks


def _check_html(name: str, html: str) -> tuple[int, int]:
    """(lines with a masked count, lines with a rate); fails on a line with both."""
    masked = rated = 0
    for line in _html_lines(html):
        has_rate = bool(RATE_MARKS.search(line))
        if MASKED_HTML in line:
            masked += 1
            assert not has_rate, f"{name}: a rate or bar next to a masked count: {line}"
        rated += has_rate
    return masked, rated


def _check_rows(name: str, rows: list[list[Any]]) -> tuple[int, int]:
    """Export rows: the last column is the rate; none on a row holding "<5"."""
    masked = rated = 0
    for row in rows[1:]:
        rate = row[-1]
        has_rate = rate not in (None, "")
        if "<5" in row:
            masked += 1
            assert not has_rate, f"{name}: a rate next to a masked count: {row}"
        rated += has_rate
    return masked, rated


def _csv(response: Any) -> list[list[Any]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx(response: Any) -> list[list[list[Any]]]:
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book]


def _check_api_line(name: str, line: dict[str, Any]) -> tuple[int, int]:
    hidden = [k for k, v in line["counts"].items() if v is None]
    assert sorted(hidden) == sorted(line["masked"]), f"{name}: {line}"
    if hidden:
        assert line["rate"] is None, f"{name}: a rate next to a masked count: {line}"
    return bool(hidden), line["rate"] is not None


async def test_no_leadership_surface_lets_a_masked_count_be_recomputed(world, api):
    big, small = await _small_groups(world)
    api.cookies.clear()
    await sign_in(api, "leadership")
    seen: dict[str, tuple[int, int]] = {}
    pages = {
        "dashboard": "/",
        "participation": "/participation",
        "status A": f"/campaigns/{big}",
        "status B": f"/campaigns/{small}",
        "progress B": f"/campaigns/{small}/progress",
    }
    for name, path in pages.items():
        response = await api.get(path)
        assert response.status_code == 200, (name, response.text)
        seen[name] = _check_html(name, response.text)
    chart = (await api.get("/participation")).text.split('class="chart"', 1)[1].split("</svg>")[0]
    assert chart.count('class="bar"') == 1  # this week's 6 of 12; last week's 2 of 8: no bar

    for name, path in {
        "participation csv": "/participation/export/csv",
        "clubs csv": "/participation/export/csv?table=clubs",
        "campaign B csv": f"/campaigns/{small}/export/csv",
        "campaign A csv": f"/campaigns/{big}/export/csv",
    }.items():
        seen[name] = _check_rows(name, _csv(await api.get(path)))
    for name, path in {
        "participation xlsx": "/participation/export/xlsx",
        "campaign B xlsx": f"/campaigns/{small}/export/xlsx",
    }.items():
        for index, sheet in enumerate(_xlsx(await api.get(path))):
            seen[f"{name} {index}"] = _check_rows(name, sheet)

    auth = api.as_("leadership")
    tallies = (await api.get("/api/v1/tallies", headers=auth)).json()
    for index, line in enumerate([tallies["total"], *tallies["organizations"], *tallies["clubs"]]):
        seen[f"api tallies {index}"] = _check_api_line("api tallies", line)
    for name, cid in (("api tally A", big), ("api tally B", small)):
        tally = (await api.get(f"/api/v1/campaigns/{cid}/tally", headers=auth)).json()
        hidden = {k for k in tally["masked"] if k in ("assigned", "by_status.done")}
        if hidden:
            assert tally["participation_rate"] is None and tally["quota_met"] is None, tally
        seen[name] = (bool(hidden), tally["participation_rate"] is not None)

    # Every surface had masked counts to hide, and the check saw rates where nothing is masked.
    for name in ("dashboard", "participation", "status B", "progress B", "participation csv"):
        assert seen[name][0], (name, seen[name])
    for name in ("dashboard", "participation", "status A", "participation csv"):
        assert seen[name][1], (name, seen[name])
    assert seen["api tally B"] == (True, False) and seen["api tally A"] == (False, True)
    assert seen["campaign B csv"][0] and seen["campaign B xlsx 0"][0]
    assert sum(masked for masked, _ in seen.values() if masked) >= 10
