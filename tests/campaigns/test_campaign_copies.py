"""Duplicates, templates, forms that show every error at once, launch readiness, sorting."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col, select

from coordinator.app import create_app
from coordinator.auth.models import AuditEvent
from coordinator.base import utcnow
from coordinator.campaigns import copying, readiness, reading, targeting
from coordinator.campaigns import service as campaigns
from coordinator.errors import Invalid, NotFound
from coordinator.organizations.models import Member
from coordinator.settings import read_settings
from tests.web.test_web_authorization import sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _dates(days: int = 3) -> copying.NewDates:
    now = utcnow()
    return copying.NewDates("Bản sao", now + timedelta(hours=2), now + timedelta(days=days))


@pytest.fixture
async def browser(world) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        client.csrf = client.cookies["coordinator_csrf"]  # type: ignore[attr-defined]
        yield client


async def test_it_duplicates_a_campaign_with_its_content_targets_and_settings(world):
    source = await world.campaign(items=2, targets=("district",), clubs=("club",), proof=True)
    coordinator = world.actor["coordinator"]
    await campaigns.launch_campaign(world.db, coordinator, source)
    await campaigns.close_campaign(world.db, coordinator, source)
    copy = await copying.duplicate_campaign(world.db, coordinator, source, _dates())
    old = await campaigns.get_campaign(world.db, coordinator, source)
    new = await campaigns.get_campaign(world.db, coordinator, copy.id)
    assert new.campaign.status == "draft" and new.campaign.title == "Bản sao"
    assert new.campaign.brief == old.campaign.brief and new.campaign.proof_requested
    assert [(i.url, i.actions, i.channel_id) for i in new.items] == [
        (i.url, i.actions, i.channel_id) for i in old.items
    ]
    assert {(t.organization_id, t.club_id) for t in new.targets} == {
        (t.organization_id, t.club_id) for t in old.targets
    }
    assert copy.launch_at != old.campaign.launch_at
    launched = await campaigns.launch_campaign(world.db, coordinator, copy.id)
    assert launched.created > 0


async def test_it_starts_a_campaign_from_a_template_and_keeps_templates_to_their_parties(world):
    source = await world.campaign(items=1)
    coordinator = world.actor["coordinator"]
    template = await copying.save_as_template(world.db, coordinator, source, "Mẫu tuần")
    assert [t.title for t in await copying.list_templates(world.db, coordinator)] == ["Mẫu tuần"]
    started = await copying.start_from_template(world.db, coordinator, template.id, _dates())
    detail = await campaigns.get_campaign(world.db, coordinator, started.id)
    assert len(detail.items) == 1 and detail.targets
    outsider = world.actor["outsider_coordinator"]
    assert await copying.list_templates(world.db, outsider) == []
    with pytest.raises(NotFound):
        await copying.start_from_template(world.db, outsider, template.id, _dates())


async def test_a_copy_outside_the_agreements_period_is_refused(world):
    source = await world.campaign()
    late = copying.NewDates("x", datetime(2028, 3, 1, tzinfo=UTC), datetime(2028, 3, 5, tzinfo=UTC))
    with pytest.raises(Invalid) as refused:
        await copying.duplicate_campaign(world.db, world.actor["coordinator"], source, late)
    assert refused.value.code == "agreement_not_valid"


async def test_the_service_reports_draft_and_agreement_errors_together(world):
    draft = campaigns.CampaignDraft(
        agreement_id=world.agreement["province"],
        title="",
        launch_at=datetime(2028, 3, 1, tzinfo=UTC),
        deadline_at=datetime(2028, 3, 5, tzinfo=UTC),
        quota_percent=500,
    )
    with pytest.raises(Invalid) as refused:
        await campaigns.create_campaign(world.db, world.actor["coordinator"], draft)
    fields = {e["field"] for e in refused.value.errors or []}
    assert {"title", "quota_percent", "agreement_id"} <= fields


async def test_the_form_shows_every_error_at_once_and_keeps_the_input(world, browser):
    form = {
        "agreement_id": str(world.agreement["province"]),
        "title": "",
        "brief": "Giữ nguyên nội dung này",
        "launch_at": "not a date",
        "deadline_at": "2026-12-24T20:00",
        "quota_percent": "abc",
        "delivery_mode": "dm",
        "_csrf_token": browser.csrf,
    }
    answer = await browser.post("/campaigns", data=form, follow_redirects=False)
    assert answer.status_code not in (302, 303)
    for name in ("title", "launch_at", "quota_percent"):
        assert f'id="e-{name}"' in answer.text, name
    assert "Giữ nguyên nội dung này" in answer.text


async def test_the_form_refuses_past_dates_inside_the_agreements_period(world, browser):
    past = (utcnow() - timedelta(days=2)).astimezone(TZ)
    form = {
        "agreement_id": str(world.agreement["province"]),
        "title": "Quá khứ",
        "launch_at": past.strftime("%Y-%m-%dT%H:%M"),
        "deadline_at": (past + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "delivery_mode": "dm",
        "_csrf_token": browser.csrf,
    }
    answer = await browser.post("/campaigns", data=form, follow_redirects=False)
    assert answer.status_code not in (302, 303)
    assert 'id="e-deadline_at"' in answer.text and 'id="e-launch_at"' in answer.text
    assert "thời điểm này đã qua" in answer.text
    found = await reading.list_campaigns(world.db, world.actor["coordinator"], None, 10, 0)
    assert "Quá khứ" not in [c.title for c in found.items]


async def test_a_failed_content_add_keeps_the_input_and_says_why(world, browser):
    cid = await world.campaign(items=0)
    item = {
        "url": f"{world.channel_url['province']}/posts/77",
        "kind": "video",
        "actions": ["comment", "watch"],
        "suggested_caption": "x" * 1001,
        "_csrf_token": browser.csrf,
    }
    answer = await browser.post(f"/campaigns/{cid}/items", data=item)
    assert 'id="e-item-caption"' in answer.text and "1000" in answer.text
    assert "posts/77" in answer.text and "x" * 1001 in answer.text
    assert 'value="watch" checked' in answer.text and 'value="share" checked' not in answer.text
    assert f'action="/campaigns/{cid}/items#content"' in answer.text
    detail = await campaigns.get_campaign(world.db, world.actor["coordinator"], cid)
    assert detail.items == []


async def test_launch_is_not_offered_with_nobody_to_receive_it(world, browser):
    cid = await world.campaign(targets=("district2",))  # its only member opted out
    page = await browser.get(f"/campaigns/{cid}/launch")
    assert 'id="not-ready"' in page.text and "Sẽ không ai nhận được" in page.text
    assert f'action="/campaigns/{cid}/launch"' not in page.text
    ready = await browser.get(f"/campaigns/{await world.campaign()}/launch")
    assert 'id="not-ready"' not in ready.text and "/launch" in ready.text


async def test_readiness_warns_in_quiet_hours_and_blocks_a_passed_deadline(world):
    cid = await world.campaign()
    coordinator = world.actor["coordinator"]
    night = datetime(2026, 12, 2, 17, 50, tzinfo=UTC)  # 00:50 in Hà Nội
    found = await readiness.readiness(
        world.db, coordinator, cid, rate=25, paid=False, tz=TZ, now=night
    )
    assert found.can_launch and found.recipients > 0 and found.seconds > 0
    assert any("quiet hours" in m and v["time"] == "00:50" for m, v in found.warnings)
    late = utcnow() + timedelta(days=30)
    found = await readiness.readiness(
        world.db, coordinator, cid, rate=25, paid=False, tz=TZ, now=late
    )
    assert not found.can_launch
    assert any("deadline has passed" in m for m, _ in found.blocking)


async def test_the_campaign_list_sorts_by_its_columns(world, browser):
    first = await world.campaign()
    second = await world.campaign(deadline_at=utcnow() + timedelta(days=1))
    coordinator = world.actor["coordinator"]
    found = await reading.list_campaigns(world.db, coordinator, None, 10, 0, sort="deadline_at")
    assert [c.id for c in found.items][:2] == [second, first]
    found = await reading.list_campaigns(world.db, coordinator, None, 10, 0, sort="-deadline_at")
    assert [c.id for c in found.items][:2] == [first, second]
    page = await browser.get("/campaigns?sort=deadline_at")
    assert 'aria-sort="ascending"' in page.text and "sort=-deadline_at" in page.text
    assert (await browser.get("/campaigns?sort=drop table")).status_code == 200


async def test_the_copy_pages_duplicate_and_keep_templates(world, browser):
    cid = await world.campaign()
    page = await browser.get(f"/campaigns/{cid}/copy")
    assert "(bản sao)" in page.text and f'action="/campaigns/{cid}/template"' in page.text
    kept = await browser.post(
        f"/campaigns/{cid}/template",
        data={"template_title": "Mẫu A", "_csrf_token": browser.csrf},
        follow_redirects=False,
    )
    assert kept.status_code in (302, 303)
    listed = await browser.get("/campaigns/templates")
    assert "Mẫu A" in listed.text
    (template,) = await copying.list_templates(world.db, world.actor["coordinator"])
    soon = (utcnow() + timedelta(hours=3)).astimezone(TZ)
    form = {
        "title": "Từ mẫu",
        "launch_at": soon.strftime("%Y-%m-%dT%H:%M"),
        "deadline_at": (soon + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "_csrf_token": browser.csrf,
    }
    started = await browser.post(
        f"/campaigns/templates/{template.id}", data=form, follow_redirects=False
    )
    assert started.status_code in (302, 303) and "/edit" in started.headers["location"]
    refused = await browser.post(
        f"/campaigns/{cid}/duplicate", data={**form, "title": ""}, follow_redirects=False
    )
    assert 'id="e-title"' in refused.text and "Từ mẫu" not in refused.text


async def test_launch_says_how_many_targeted_volunteers_are_skipped_as_unreachable(world, browser):
    cid = await world.campaign(targets=("district",))
    coordinator = world.actor["coordinator"]
    found = await readiness.readiness(world.db, coordinator, cid, rate=25, paid=False, tz=TZ)
    before = found.volunteers
    assert found.skipped == 0 and before == 4 and not any("skipped" in m for m, _ in found.warnings)
    async with world.db.write() as session:
        await session.execute(
            update(Member)
            .where(col(Member.id) == world.member["d1"])
            .values(unreachable_at=utcnow())
        )
    found = await readiness.readiness(world.db, coordinator, cid, rate=25, paid=False, tz=TZ)
    assert found.skipped == 1 and found.volunteers == 3  # d2, d3 and c1 (commune) still reached
    assert [v for m, v in found.warnings if "skipped" in m] == [{"count": 1}]
    page = await browser.get(f"/campaigns/{cid}/launch")
    assert "1 cuộc trò chuyện trong danh sách nhận bị bỏ qua" in page.text


async def test_a_template_is_renamed_and_deleted_and_both_are_audited(world):
    coordinator = world.actor["coordinator"]
    template = await copying.save_as_template(world.db, coordinator, await world.campaign(), "A")
    started = await copying.start_from_template(world.db, coordinator, template.id, _dates())
    await copying.rename_template(world.db, coordinator, template.id, "  Mẫu tháng  ")
    assert [t.title for t in await copying.list_templates(world.db, coordinator)] == ["Mẫu tháng"]
    with pytest.raises(Invalid) as refused:
        await copying.rename_template(world.db, coordinator, template.id, " ")
    assert refused.value.errors[0]["field"] == "title"
    with pytest.raises(NotFound):  # not a party to its agreement: it does not exist for them
        await copying.delete_template(world.db, world.actor["outsider_coordinator"], template.id)
    assert await copying.delete_template(world.db, coordinator, template.id) == "Mẫu tháng"
    assert await copying.list_templates(world.db, coordinator) == []
    # A campaign started from it keeps its own copy.
    assert (await campaigns.get_campaign(world.db, coordinator, started.id)).items
    async with world.db.read() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.action).like("campaign.template%"))
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(e.action, e.object_id, e.detail) for e in events] == [
        ("campaign.template", events[0].object_id, {"template": template.id}),
        ("campaign.template_rename", template.id, {"old": "A", "new": "Mẫu tháng"}),
        ("campaign.template_delete", template.id, {"title": "Mẫu tháng"}),
    ]


def test_only_admins_its_author_and_the_lead_coordinators_change_a_template():
    from coordinator.auth import policy
    from coordinator.auth.scope import Actor

    def actor(role: str, user: int, org: int) -> Actor:
        return Actor(user, role, org, frozenset({org}), frozenset({org}))

    assert policy.changes_template(actor("admin", 1, 9), 5, 2)
    assert policy.changes_template(actor("coordinator", 5, 3), 5, 2)  # saved it
    assert policy.changes_template(actor("coordinator", 6, 2), 5, 2)  # speaks for the lead
    assert not policy.changes_template(actor("coordinator", 6, 3), 5, 2)
    assert not policy.changes_template(actor("lead", 5, 2), 5, 2)
    assert not policy.changes_template(actor("coordinator", 6, 3), None, 2)


async def test_the_templates_page_renames_deletes_and_says_why_inline(world, browser):
    coordinator = world.actor["coordinator"]
    template = await copying.save_as_template(world.db, coordinator, await world.campaign(), "A")
    listed = await browser.get("/campaigns/templates")
    assert f'action="/campaigns/templates/{template.id}/rename"' in listed.text
    assert f'action="/campaigns/templates/{template.id}/delete"' in listed.text
    path = f"/campaigns/templates/{template.id}/rename"
    refused = await browser.post(path, data={"title": "", "_csrf_token": browser.csrf})
    assert refused.status_code == 200 and f'id="e-template-{template.id}"' in refused.text
    assert "1-200 ký tự" in refused.text
    await browser.post("/language", data={"lang": "en", "_csrf_token": browser.csrf})
    refused = await browser.post(path, data={"title": "x" * 201, "_csrf_token": browser.csrf})
    assert "1-200 characters" in refused.text and "x" * 201 in refused.text
    renamed = await browser.post(path, data={"title": "Weekly", "_csrf_token": browser.csrf})
    assert "Template renamed." in renamed.text and 'value="Weekly"' in renamed.text
    gone = await browser.post(
        f"/campaigns/templates/{template.id}/delete", data={"_csrf_token": browser.csrf}
    )
    assert "Template Weekly deleted." in gone.text and "/rename" not in gone.text


async def test_a_copy_of_an_automatic_mode_follows_its_own_targets(world):
    coordinator = world.actor["coordinator"]
    cid = await world.campaign(targets=("district", "district2"), mode=None)
    source = (await campaigns.get_campaign(world.db, coordinator, cid)).campaign
    assert (source.delivery_mode, source.delivery_mode_auto) == ("org", True)
    copy = await copying.duplicate_campaign(world.db, coordinator, cid, _dates())
    assert (copy.delivery_mode, copy.delivery_mode_auto) == ("org", True)
    await targeting.set_targets(
        world.db, coordinator, copy.id, organization_ids=[world.org["district"]], club_ids=[]
    )
    again = (await campaigns.get_campaign(world.db, coordinator, copy.id)).campaign
    assert (again.delivery_mode, again.delivery_mode_auto) == ("dm", True)
    chosen = await world.campaign(targets=("district", "district2"), mode="dm")
    kept = await copying.duplicate_campaign(world.db, coordinator, chosen, _dates())
    assert (kept.delivery_mode, kept.delivery_mode_auto) == ("dm", False)
