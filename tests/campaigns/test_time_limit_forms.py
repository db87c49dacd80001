"""The campaign form's time limits for organizations and its automatic delivery mode: shown,
saved, refused with a reason in both languages; the API takes the same fields."""

from __future__ import annotations

import os

from sqlmodel import select

from coordinator.campaigns.models import Campaign
from coordinator.web.context import FORM_ERROR
from tests.factories import api_client


def _form(world, **changes: str) -> dict[str, str]:
    form = {
        "title": "Lan tỏa",
        "brief": "",
        "launch_at": "2026-12-20T08:00",
        "deadline_at": "2026-12-24T20:00",
        "agreement_id": str(world.agreement["province"]),
        "delivery_mode": "",
        "org_remind_after_hours": "6",
        "org_escalate_after_hours": "12",
        "org_auto_pass_on_after_hours": "",
    }
    return {**form, **changes}


async def _post(client, path: str, data: dict[str, str]):
    data = {**data, "_csrf_token": client.cookies["coordinator_csrf"]}
    return await client.post(path, data=data, follow_redirects=True)


async def _latest(world) -> Campaign:
    async with world.db.read() as session:
        found = await session.scalars(select(Campaign).order_by(Campaign.id.desc()))  # type: ignore[union-attr]
        return found.first()


async def test_the_form_shows_saves_and_refuses_the_time_limits(world):
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        new = (await client.get("/campaigns/new")).text
        assert '<option value="" selected>' in new  # automatic, explained beside it
        assert 'id="delivery-help"' in new and "nhiều hơn một đơn vị" in new
        assert 'name="org_remind_after_hours" type="number" value="6"' in new
        assert 'name="org_auto_pass_on_after_hours" type="number" value=""' in new
        bad = _form(world, org_remind_after_hours="abc", org_escalate_after_hours="500")
        refused = await _post(client, "/campaigns", bad)
        assert refused.status_code == FORM_ERROR
        assert refused.text.count("để trống nếu không dùng, hoặc từ 1 đến 168 giờ") == 2
        assert 'value="abc"' in refused.text  # the input stays
        await _post(client, "/language", {"lang": "en", "next": "/campaigns/new"})
        refused = await _post(client, "/campaigns", _form(world, org_auto_pass_on_after_hours="0"))
        assert refused.status_code == FORM_ERROR
        assert refused.text.count("empty for never, or 1-168 hours") == 1
        saved = await _post(client, "/campaigns", _form(world, org_auto_pass_on_after_hours="3"))
        assert saved.status_code == 200
        campaign = await _latest(world)
        assert (campaign.org_remind_after_hours, campaign.org_escalate_after_hours) == (6, 12)
        assert campaign.org_auto_pass_on_after_hours == 3
        assert campaign.delivery_mode_auto and campaign.delivery_mode == "dm"  # no targets yet
        targets = {"organization_ids": [str(world.org["district"]), str(world.org["district2"])]}
        await _post(client, f"/campaigns/{campaign.id}/targets", targets)
        assert (await _latest(world)).delivery_mode == "org"
        edit = (await client.get(f"/campaigns/{campaign.id}/edit")).text
        assert 'name="org_auto_pass_on_after_hours" type="number" value="3"' in edit
        assert '<option value="" selected>' in edit  # still automatic
        # Choosing a mode sticks, whatever the targets; emptying a limit turns it off.
        chosen = _form(world, delivery_mode="dm", org_escalate_after_hours="")
        await _post(client, f"/campaigns/{campaign.id}", chosen)
        campaign = await _latest(world)
        assert campaign.delivery_mode == "dm" and not campaign.delivery_mode_auto
        assert campaign.org_escalate_after_hours is None
        status = (await client.get(f"/campaigns/{campaign.id}")).text
        assert 'id="time-limits"' not in status  # only campaigns through organizations
        await _post(client, f"/campaigns/{campaign.id}", _form(world, delivery_mode="org"))
        status = (await client.get(f"/campaigns/{campaign.id}")).text
        assert "reminder after 6 h" in status and "no automatic pass-on" in status


async def test_the_api_takes_the_time_limits_and_follows_the_targets(world):
    async with api_client(world) as api:
        c = api.as_("coordinator")
        body = {
            "agreement_id": world.agreement["province"],
            "title": "Lan tỏa",
            "launch_at": "2026-12-20T01:00:00Z",
            "deadline_at": "2026-12-24T13:00:00Z",
        }
        refused = await api.post(
            "/api/v1/campaigns", json={**body, "org_escalate_after_hours": 500}, headers=c
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "org_escalate_after_hours"
        made = await api.post(
            "/api/v1/campaigns", json={**body, "org_auto_pass_on_after_hours": 2}, headers=c
        )
        assert made.status_code == 201, made.text
        campaign = made.json()
        assert campaign["delivery_mode_auto"] and campaign["org_remind_after_hours"] == 6
        assert campaign["org_auto_pass_on_after_hours"] == 2
        orgs = [world.org["district"], world.org["district2"]]
        await api.put(
            f"/api/v1/campaigns/{campaign['id']}/targets",
            json={"organization_ids": orgs},
            headers=c,
        )
        shown = (await api.get(f"/api/v1/campaigns/{campaign['id']}", headers=c)).json()
        assert shown["campaign"]["delivery_mode"] == "org"


async def test_digits_that_are_not_ascii_are_refused_inline_not_a_server_error(world):
    """ "²" passes str.isdigit() and fails int(): every number field of the campaign form and
    the organization's weekly cap answer it as a form error, keeping the input."""
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        for field in ("quota_percent", "ask_share_percent", "org_remind_after_hours"):
            refused = await _post(client, "/campaigns", _form(world, **{field: "²"}))
            assert refused.status_code == FORM_ERROR, (field, refused.status_code)
            assert 'value="²"' in refused.text, field
        await sign_in(client, "lead")
        capped = await _post(
            client, f"/organizations/{world.org['district']}/task-cap", {"weekly_task_cap": "²"}
        )
        assert capped.status_code < 500 and "²" in capped.text
