"""Hostile or absurd input gets a clear answer, never a 500 (each case was a 500 once)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.base import MAX_ROW_ID
from coordinator.delivery.messages import BUTTON_STEPS, parse_callback
from coordinator.settings import read_settings
from tests.web.test_web_authorization import sign_in

HUGE = str(2**64)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/organizations/{HUGE}",
        f"/api/v1/organizations/{2**31}",  # just past PostgreSQL's integer
        f"/api/v1/campaigns?offset={HUGE}",
        f"/api/v1/clubs?organization_id={HUGE}",
        f"/api/v1/members?organization_id={2**31}",
        "/api/v1/users?limit=100000",
    ],
)
async def test_it_refuses_numbers_out_of_range_with_a_problem(api, path):
    answer = await api.get(path, headers=api.as_("admin"))
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_it_answers_a_taken_club_name_with_a_conflict(api, world):
    first, second = [
        await api.post(
            "/api/v1/clubs",
            json={"organization_id": world.org["district"], "name": name},
            headers=api.as_("admin"),
        )
        for name in ("CLB Tình nguyện", "CLB Văn nghệ")
    ]
    assert first.status_code == second.status_code == 201
    clash = await api.patch(
        f"/api/v1/clubs/{second.json()['id']}",
        json={"name": "CLB Tình nguyện"},
        headers=api.as_("admin"),
    )
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "name"


async def test_it_refuses_deeply_nested_json(api):
    body = "[" * 100_000 + "]" * 100_000
    answer = await api.post(
        "/api/v1/organizations",
        content=body,
        headers={**api.as_("admin"), "content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert "nested" in answer.json()["detail"]


async def test_pages_refuse_absurd_searches_and_offsets_without_failing(db, world):
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "admin")
        for path in (
            "/members?q=" + "x" * 50_000,
            "/users?q=" + "y" * 50_000,
            f"/members?offset={HUGE}",
            f"/campaigns/{HUGE}",
            f"/organizations/{2**31}",
        ):
            answer = await client.get(path)
            assert 400 <= answer.status_code < 500, (path, answer.status_code)


@given(st.text(max_size=80))
def test_it_parses_any_callback_data_without_failing(data):
    parsed = parse_callback(data)
    if parsed is not None:
        assignment_id, step = parsed
        assert 1 <= assignment_id <= MAX_ROW_ID
        assert step in BUTTON_STEPS.values()
        assert data == f"t:{assignment_id}:" + data.rsplit(":", 1)[1]


@pytest.mark.parametrize("data", ["t:²:ack", "t:" + "9" * 4_400 + ":ack", f"t:{2**63}:done"])
def test_it_ignores_callback_data_that_is_not_ours(data):
    assert parse_callback(data) is None


async def test_it_refuses_an_agreement_edit_before_reading_the_form(db, world):
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "lead")  # leads never edit agreements
        answer = await client.post(
            f"/agreements/{world.agreement['province']}",
            data={"title": "", "signed_on": "not a date", "valid_from": "", "valid_until": ""},
            headers={"x-csrftoken": client.cookies["coordinator_csrf"]},
        )
        assert answer.status_code == 403
        assert "not a date" not in answer.text


@pytest.mark.parametrize(
    "url", ["http://[", "https://[::1", "https://", "https://www.facebook.com/"]
)
async def test_it_refuses_an_unreadable_or_platform_channel_url_with_a_problem(api, world, url):
    answer = await api.post(
        "/api/v1/channels",
        headers=api.as_("admin"),
        json={
            "organization_id": world.org["province"],
            "platform": "facebook",
            "url": url,
            "name": "Trang",
        },
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] in ("invalid", "channel_is_platform")
    cid = await world.campaign(items=0)
    item = await api.post(
        f"/api/v1/campaigns/{cid}/content-items",
        headers=api.as_("coordinator"),
        json={"url": url + "x/posts/1", "actions": ["share"]},
    )
    assert item.status_code == 422, item.text
