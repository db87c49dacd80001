"""The cascade on a running campaign's status page, in Chromium on a phone: the organizations'
tree fits 390 px (wide tables scroll in their own box), and it follows a focal point's step
without a reload (the status page polls its partial)."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from coordinator.campaigns.models import Campaign, OrganizationTask
from coordinator.db import Database
from coordinator.organizations.models import Organization
from tests.e2e.conftest import PHONE, Pages, Server, _run
from tests.e2e.test_layout import OVERFLOW_JS

LONG_REASON = "Đơn vị đang dồn sức cho đợt tập huấn cán bộ cơ sở cả tháng " * 3


async def _as_cascade(url: str) -> tuple[int, int]:
    """The demo's running campaign, handed through organizations: every organization in the
    tree has a task, in each state, one with a long typed reason. (campaign, a pending task)"""
    db = Database(url)
    try:
        async with db.write() as session:
            campaign = await session.scalar(select(Campaign).where(Campaign.status == "active"))
            assert campaign is not None and campaign.launched_at is not None
            campaign.delivery_mode = "org"
            orgs = (
                await session.scalars(select(Organization).order_by(col(Organization.id)))
            ).all()
            tasks = []
            for n, org in enumerate(orgs):
                at = campaign.launched_at + timedelta(minutes=7 * (n + 1))
                task = OrganizationTask(campaign_id=campaign.id or 0, organization_id=org.id or 0)
                state = n % 4
                if state >= 1:
                    task.status, task.received_at = "received", at
                if state == 2:
                    task.status, task.passed_on_at = "passed_on", at + timedelta(hours=2)
                    task.passed_on_how = ["members", "clubs", "groups", "suborgs"]
                if state == 3:
                    task.status, task.declined_at, task.decline_reason = "declined", at, LONG_REASON
                session.add(task)
                tasks.append(task)
            await session.flush()
            pending = next(t for t in tasks if t.status == "pending")
            return campaign.id or 0, pending.id or 0
    finally:
        await db.dispose()


async def _pass_on(url: str, task_id: int) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            await session.execute(
                update(OrganizationTask)
                .where(col(OrganizationTask.id) == task_id)
                .values(status="passed_on", passed_on_how=["members"])
            )
    finally:
        await db.dispose()


def test_the_cascade_fits_a_phone_and_follows_a_focal_point(pages: Pages, server: Server):
    campaign_id, pending = _run(_as_cascade(server.database_url))
    for role in ("coordinator", "leadership"):
        page = pages.signed_in(role, phone=True)
        assert page.viewport_size == PHONE
        page.goto(f"/campaigns/{campaign_id}")
        expect(page.locator("#cascade-tree")).to_be_visible()
        expect(page.locator("#not-passed-on-count")).to_be_visible()
        assert page.evaluate(OVERFLOW_JS) == [], role
    passed = page.locator("#cascade-tree tr[data-status='passed_on']")
    before = passed.count()
    expect(page.locator("#cascade-tree tr[data-status='pending']").first).to_be_visible()
    _run(_pass_on(server.database_url, pending))
    expect(passed).to_have_count(before + 1, timeout=15_000)  # the next poll, no reload
    assert page.evaluate(OVERFLOW_JS) == []
