"""Every browser page and htmx partial, walked by the four roles and an outsider organization,
signed in with a real session cookie and CSRF token. Denied requests get 403 or 404 and change
nothing; a page missing from this table fails `test_it_covers_every_page`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from coordinator.app import create_app
from coordinator.auth import service as auth
from coordinator.auth import sessions
from coordinator.auth.models import AuditEvent, User
from coordinator.campaigns import copying
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import Member
from coordinator.sandbox.run import free_port
from coordinator.settings import read_settings
from tests.conftest import open_database
from tests.factories import PASSWORD, World, api_client, build_world

PERSONAS = ("admin", "coordinator", "lead", "leadership", "outsider_coordinator", "outsider_lead")
ALL = frozenset(PERSONAS)
# Their own Telegram: everyone the bot writes to (digests, approvals).
DIGESTS = frozenset(PERSONAS)
NAMED = ALL - {"leadership"}
ADMIN = frozenset({"admin"})
CAMPAIGN_EDITORS = frozenset({"admin", "coordinator"})
LEADS = frozenset({"admin", "lead"})
SEES_CAMPAIGN = frozenset({"admin", "coordinator", "lead", "leadership"})
CSV = b"ho ten,ma\nNguyen Van Moi,NEW1\n"


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    allowed: frozenset[str]
    form: dict[str, Any] | None = None
    upload: bool = False
    ok: tuple[int, ...] = (200, 303)  # what the allowed roles get


CAMPAIGN_FORM = {
    "title": "Đổi tên",
    "brief": "",
    "launch_at": "2026-12-20T08:00",
    "deadline_at": "2026-12-24T20:00",
    "delivery_mode": "dm",
}
# Order matters only for the campaign's moves: edits first, cancel last.
PAGES = [
    Page("GET", "/", ALL),
    Page("GET", "/campaigns", ALL),
    Page("GET", "/campaigns/new", CAMPAIGN_EDITORS | {"outsider_coordinator"}),
    Page("POST", "/campaigns", CAMPAIGN_EDITORS, {**CAMPAIGN_FORM, "agreement_id": "{agreement}"}),
    Page("GET", "/campaigns/{campaign}/edit", CAMPAIGN_EDITORS),
    Page("POST", "/campaigns/{campaign}", CAMPAIGN_EDITORS, CAMPAIGN_FORM),
    Page(
        "POST",
        "/campaigns/{campaign}/items",
        CAMPAIGN_EDITORS,
        {"url": "{channel}/posts/9", "kind": "post", "actions": "share"},
    ),
    Page(
        "POST",
        "/campaigns/{campaign}/targets",
        CAMPAIGN_EDITORS,
        {"organization_ids": "{district}"},
    ),
    Page(
        "POST",
        "/campaigns/check-url",
        CAMPAIGN_EDITORS | {"outsider_coordinator"},
        {"url": "{channel}/posts/1", "agreement_id": "{agreement}"},
    ),
    Page("POST", "/campaigns/preview", SEES_CAMPAIGN, {"campaign_id": "{campaign}", "title": "x"}),
    Page("GET", "/campaigns/{campaign}", SEES_CAMPAIGN),
    Page("GET", "/campaigns/{campaign}/progress", SEES_CAMPAIGN),
    Page("GET", "/campaigns/{campaign}/launch", CAMPAIGN_EDITORS),
    Page("GET", "/campaigns/{campaign}/copy", CAMPAIGN_EDITORS),
    Page("POST", "/campaigns/{campaign}/duplicate", CAMPAIGN_EDITORS, CAMPAIGN_FORM),
    Page("POST", "/campaigns/{campaign}/template", CAMPAIGN_EDITORS, {}),
    Page("GET", "/campaigns/templates", CAMPAIGN_EDITORS | {"outsider_coordinator"}),
    # Campaigns handed to an organization: only its focal points, and this world names none.
    Page("GET", "/campaigns/{campaign}/handed", frozenset()),
    Page("POST", "/organization-tasks/{org_task}", frozenset(), {"step": "received"}),
    # "Remind now": those who run campaigns; this world has no task, so theirs is a 404
    # (tests/campaigns/test_escalation.py presses it on a real one).
    Page("POST", "/organization-tasks/{org_task}/remind", CAMPAIGN_EDITORS, {}, ok=(404,)),
    Page("GET", "/campaigns/templates/{template}", CAMPAIGN_EDITORS),
    Page("POST", "/campaigns/templates/{template}", CAMPAIGN_EDITORS, CAMPAIGN_FORM),
    Page("POST", "/campaigns/templates/{template}/rename", CAMPAIGN_EDITORS, {"title": "Mẫu B"}),
    # The administrator deletes it first; the coordinator who saved it then finds it gone.
    Page("POST", "/campaigns/templates/{template}/delete", CAMPAIGN_EDITORS, {}, ok=(303, 404)),
    Page("POST", "/campaigns/{campaign}/schedule", CAMPAIGN_EDITORS, {}),
    Page("POST", "/campaigns/{campaign}/launch", CAMPAIGN_EDITORS, {}),
    Page("POST", "/campaigns/{campaign}/remind", CAMPAIGN_EDITORS, {}),
    Page("POST", "/campaigns/{campaign}/close", CAMPAIGN_EDITORS, {}),
    # On the lead's own draft each refuses with a message (303): none needs approval.
    Page("POST", "/campaigns/{campaign}/submit", CAMPAIGN_EDITORS, {}),
    Page("POST", "/campaigns/{campaign}/approve", CAMPAIGN_EDITORS, {"comment": ""}),
    Page("POST", "/campaigns/{campaign}/return", CAMPAIGN_EDITORS, {"comment": "Sửa"}),
    Page("POST", "/campaigns/{campaign}/cancel", CAMPAIGN_EDITORS, {}),
    Page("GET", "/participation", ALL),
    Page("GET", "/participation/export/csv", ALL),
    Page("GET", "/participation/export/xlsx", ALL),
    Page("GET", "/campaigns/{campaign}/export/csv", SEES_CAMPAIGN),
    # The tree names organizations, not people: leadership sees it, as on the API.
    Page("GET", "/organizations", ALL),
    Page("GET", "/organizations/{district}", ALL),
    Page("POST", "/organizations/{district}/clubs", LEADS, {"name": "CLB mới"}),
    Page("POST", "/organizations/{district}/task-cap", LEADS, {"weekly_task_cap": "3"}),
    Page(
        "POST",
        "/organizations/{district}/channels",
        LEADS | {"coordinator"},
        {"platform": "facebook", "url": "https://www.facebook.com/huyen-a", "name": "Trang A"},
    ),
    Page("POST", "/organizations/{district}/group-link", LEADS, {"club_id": ""}),
    Page("POST", "/organizations/{district}/invites", LEADS, {}),
    Page("GET", "/members", NAMED),
    Page("POST", "/members/{member}/invite", LEADS, {}),
    Page("GET", "/members/import", LEADS | {"outsider_lead"}),
    Page("POST", "/members/import", LEADS, {"organization_id": "{district}"}, upload=True),
    Page("POST", "/members/import/confirm", ALL, {}),  # only ever the caller's own upload
    Page("GET", "/members/{member}", NAMED - {"outsider_coordinator", "outsider_lead"}),
    Page("GET", "/members/new", LEADS | {"outsider_lead"}),
    Page("POST", "/members", LEADS, {"organization_id": "{district}", "display_name": "Mới"}),
    Page("GET", "/members/{member}/edit", LEADS),
    Page(
        "POST",
        "/members/{member}",
        LEADS,
        {"organization_id": "{district}", "display_name": "Đoàn viên d1", "locale": "vi"},
    ),
    Page("POST", "/members/{member}/deactivate", LEADS, {}),
    Page("POST", "/members/{member}/reactivate", LEADS, {}),
    Page(
        "POST",
        "/members/bulk",
        LEADS,
        {"action": "move", "member_ids": "{member}", "organization_id": "{district}"},
    ),
    Page("GET", "/agreements", ALL),
    Page(
        "POST",
        "/agreements",
        ADMIN,
        {
            "title": "Quy chế mới",
            "lead_organization_id": "{district}",
            "signed_on": "2026-01-01",
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
        },
    ),
    Page(
        "POST",
        "/agreements",
        CAMPAIGN_EDITORS,  # a coordinator, for the organization they belong to
        {
            "title": "Quy chế của tỉnh",
            "lead_organization_id": "{province}",
            "signed_on": "2026-01-01",
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
        },
    ),
    Page("GET", "/agreements/{agreement}/edit", CAMPAIGN_EDITORS),
    Page(
        "POST",
        "/agreements/{agreement}",
        CAMPAIGN_EDITORS,
        {
            "title": "Quy chế sửa",
            "signed_on": "2026-01-05",
            "valid_from": "2026-01-10",
            "valid_until": "2027-12-31",
        },
    ),
    # The parties' people (and leadership, without names) see who receives for each party;
    # admins and the party's own leads name them (the province's: only the admin here).
    Page("GET", "/agreements/{agreement}/focal-points", SEES_CAMPAIGN),
    Page("POST", "/agreements/{agreement}/focal-points", ADMIN, {"organization_id": "{province}"}),
    Page("GET", "/simulator", NAMED),
    Page("GET", "/simulator/chat/{telegram}", frozenset({"admin", "coordinator", "lead"})),
    Page("GET", "/simulator/chat/{telegram}/messages", frozenset({"admin", "coordinator", "lead"})),
    Page(
        "GET",
        "/simulator/chat/{telegram}/answers/{query}",
        frozenset({"admin", "coordinator", "lead"}),
    ),
    Page(
        "POST",
        "/simulator/chat/{telegram}/send",
        frozenset({"admin", "coordinator", "lead"}),
        {"text": "/help"},
    ),
    Page(
        "POST",
        "/simulator/chat/{telegram}/press",
        frozenset({"admin", "coordinator", "lead"}),
        {"message_id": "1", "data": "t:1:ack"},
        ok=(422,),  # past the scope check, the sandbox says the chat has no such message
    ),
    Page("GET", "/users", ADMIN),
    Page(
        "POST",
        "/users",
        ADMIN,
        {"username": "moi", "password": PASSWORD, "role": "lead", "organization_id": "{district}"},
    ),
    # A user who is no persona: a reset, a role change or a sign-out ends their sessions.
    Page("POST", "/users/{spare_user}/role", ADMIN, {"role": "coordinator"}),
    Page("POST", "/users/{spare_user}/password", ADMIN, {"password": PASSWORD}),
    Page("POST", "/users/{spare_user}/active", ADMIN, {"active": "1"}),
    Page("POST", "/users/{spare_user}/sessions/end", ADMIN, {}),
    Page("GET", "/account", ALL),
    Page("GET", "/account/mfa", ALL),
    Page("POST", "/account/mfa", ALL, {"code": "12"}),  # a wrong code: the form again
    Page("POST", "/account/mfa/remove", ALL, {}),
    Page("POST", "/users/{spare_user}/mfa/remove", ADMIN, {}),
    Page("POST", "/users/mfa-policy", ADMIN, {}),
    Page("POST", "/account/sessions/{lead_phone}/end", frozenset({"lead"}), {}),
    Page("POST", "/account/sessions/end-others", ALL, {}),
    Page("POST", "/account/password", ALL, {"current": PASSWORD, "new": PASSWORD}),
    Page("GET", "/audit", ADMIN),
    Page("GET", "/outbox", ADMIN),
    Page("POST", "/outbox/{outbox_row}/retry", ADMIN, {}),
    Page("GET", "/bots", ADMIN),
    Page("GET", "/tokens", ALL),
    Page("POST", "/tokens", ALL, {"name": "script"}),
    Page("POST", "/tokens/{lead_token}/revoke", frozenset({"admin", "lead"}), {}),
    Page("GET", "/digests", DIGESTS),
    Page("POST", "/digests/link", DIGESTS, {}),
    Page("POST", "/digests/unlink", DIGESTS, {}),
]
# Pages answered before a session is needed.
PUBLIC = {
    ("GET", "/signin"),
    ("POST", "/signin"),
    ("POST", "/signout"),
    ("POST", "/language"),
    ("GET", "/signin/code"),
    ("POST", "/signin/code"),
}
NOT_WALKED: set[tuple[str, str]] = set()


async def sign_in(client: AsyncTestClient[Any], username: str) -> None:
    await client.get("/signin")
    response = await client.post(
        "/signin",
        data={
            "username": username,
            "password": PASSWORD,
            "_csrf_token": client.cookies["coordinator_csrf"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture
async def walked(template_url: str, tmp_path) -> AsyncIterator[tuple[World, dict[str, str]]]:
    database = await open_database(template_url, tmp_path)
    world = await build_world(database)
    campaign = await world.campaign()
    kept = await copying.save_as_template(database, world.actor["coordinator"], campaign)
    async with database.read() as session:
        telegram = await session.scalar(
            select(Member.telegram_user_id).where(Member.id == world.member["d1"])
        )
    lead_token = await auth.create_token(database, None, world.user_id["lead"], "lead's")
    del lead_token
    tokens = await auth.list_tokens(database, world.actor["lead"])
    spare = await auth.create_user(
        database,
        None,
        username="spare",
        password=PASSWORD,
        role="lead",
        organization_id=world.org["district"],
    )
    await sessions.create(
        database, "lead-phone", b"{}", world.user_id["lead"], sessions.Client("Phone", "::1")
    )
    (lead_phone,) = await sessions.list_own(database, world.actor["lead"])
    async with database.write() as session:
        dead = OutboxMessage(dedupe_key="walk:dead", chat_id=1, kind="text", status="failed")
        session.add(dead)
        await session.flush()
    context = {
        "campaign": str(campaign),
        "template": str(kept.id),
        "org_task": "999999",  # no organization task in this world: none handed to anyone
        "agreement": str(world.agreement["province"]),
        "channel": world.channel_url["province"],
        "district": str(world.org["district"]),
        "province": str(world.org["province"]),
        "member": str(world.member["d1"]),
        "telegram": str(telegram),
        "lead_user": str(world.user_id["lead"]),
        "lead_token": str(tokens[0].id),
        "query": "1000000000001",  # a press nobody made: the poll shows "waiting"
        "spare_user": str(spare.id),
        "lead_phone": str(lead_phone.id),
        "outbox_row": str(dead.id),
    }
    yield world, context
    await database.dispose()


def _fill(text: str, context: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: context[m.group(1)], text)


async def _audit_count(world: World) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def _request(client: AsyncTestClient[Any], page: Page, context: dict[str, str]) -> Any:
    path = _fill(page.path, context)
    if page.method == "GET":
        return await client.get(path, follow_redirects=False)
    form = {k: _fill(v, context) for k, v in (page.form or {}).items()}
    headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
    if page.upload:
        files = {"file": ("members.csv", CSV, "text/csv")}
        return await client.post(
            path, data=form, files=files, headers=headers, follow_redirects=False
        )
    return await client.post(path, data=form, headers=headers, follow_redirects=False)


async def test_every_page_lets_in_exactly_the_roles_it_should(walked):
    world, context = walked
    sandbox, sandbox_url = _start_sandbox()
    try:
        person = _until_up(sandbox_url)
        async with world.db.write() as session:
            member = await session.get(Member, world.member["d1"])
            assert member is not None
            member.telegram_user_id = person
        context["telegram"] = str(person)
        await _walk(world, context, sandbox_url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def _start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    """The sandbox as its own process: the test client blocks this event loop per request."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def _until_up(url: str) -> int:
    """Wait for the sandbox, then create the volunteer's Telegram account; its id."""
    deadline = time.monotonic() + 20
    while True:
        try:
            answer = httpx.post(url + "/sandbox/users", json={"first_name": "Đoàn viên d1"})
            return int(answer.json()["result"]["id"])
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _walk(world: World, context: dict[str, str], sandbox_url: str) -> None:
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    app = create_app(read_settings(env), sandbox_url=sandbox_url)
    async with AsyncTestClient(app=app) as client:
        jars = {}
        for who in PERSONAS:
            client.cookies.clear()
            await sign_in(client, who.replace("_", "-"))
            jars[who] = dict(client.cookies)

        async def as_(who: str, page: Page) -> Any:
            client.cookies.clear()
            client.cookies.update(jars[who])
            response = await _request(client, page, context)
            jars[who].update(response.cookies.items())  # a password change gives a new id
            return response

        for page in PAGES:
            for who in sorted(ALL - page.allowed):
                before = await _audit_count(world)
                response = await as_(who, page)
                assert response.status_code in (403, 404), (who, page, response.status_code)
                assert await _audit_count(world) == before, (who, page)
            for who in sorted(page.allowed):
                response = await as_(who, page)
                assert response.status_code in page.ok, (who, page, response.text[:400])


async def test_without_a_session_every_page_sends_to_sign_in(walked):
    world, context = walked
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        await client.get("/signin")
        for page in PAGES:
            response = await _request(client, page, context)
            assert response.status_code == 303, page
            assert response.headers["location"].startswith("/signin?next=")
        partial = await client.get(
            _fill("/campaigns/{campaign}/progress", context), headers={"HX-Request": "true"}
        )
        assert partial.status_code == 401
        assert partial.headers["HX-Redirect"].startswith("/signin")


def test_it_covers_every_page():
    app = create_app(read_settings())
    served = {
        (method, route.path)
        for route in app.routes
        if not route.path.startswith(
            ("/api/", "/static", "/schema", "/telegram", "/health", "/metrics")
        )
        for method in route.methods - {"HEAD", "OPTIONS"}
    }
    names = {
        "{campaign}": "{campaign_id:int}",
        "{agreement}": "{agreement_id:int}",
        "{district}": "{org_id:int}",
        "{member}": "{member_id:int}",
        "{telegram}": "{telegram_id:int}",
        "{lead_user}": "{user_id:int}",
        "{lead_token}": "{token_id:int}",
        "{query}": "{query_id:str}",
        "{spare_user}": "{user_id:int}",
        "{lead_phone}": "{session_id:int}",
        "{outbox_row}": "{row_id:int}",
        "{template}": "{template_id:int}",
        "{org_task}": "{task_id:int}",
    }

    def template(path: str) -> str:
        for placeholder, name in names.items():
            path = path.replace(placeholder, name)
        return path

    walked = {(p.method, template(p.path).replace("/csv", "/{fmt:str}")) for p in PAGES}
    walked = {(m, path.replace("/xlsx", "/{fmt:str}")) for m, path in walked}
    assert served == walked | PUBLIC | NOT_WALKED


async def test_a_user_deactivated_mid_session_is_signed_out(walked):
    world, _ = walked
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        await sign_in(client, "lead")
        assert (await client.get("/members")).status_code == 200
        async with world.db.write() as session:
            user = await session.get(User, world.user_id["lead"])
            assert user is not None
            user.active = False
        response = await client.get("/members", follow_redirects=False)
        assert response.status_code == 303


def test_the_tree_page_and_the_api_ask_the_same_question():
    from coordinator.organizations.api import OrganizationController
    from coordinator.organizations.web import tree

    def asked(guards: Any) -> set[str]:
        return {guard.__name__ for guard in guards or []}

    question = {"requires_sees_organizations"}
    assert asked(OrganizationController.guards) == question
    assert asked(tree.organizations_page.guards) == question
    assert asked(tree.organization_page.guards) == question


async def test_it_shows_leadership_the_tree_on_the_web_as_on_the_api_without_people(walked):
    """Leadership sees aggregates, never named people: the tree (organizations, kinds, clubs,
    channels) names no one, so both routers let them in; member counts, group chats and the
    link to the member list stay hidden."""
    world, context = walked
    async with api_client(world) as client:
        api = await client.get("/api/v1/organizations", headers=client.as_("leadership"))
        assert api.status_code == 200, api.text
        await sign_in(client, "leadership")
        tree = await client.get("/organizations", follow_redirects=False)
        assert tree.status_code == 200, tree.text[:400]
        assert f'href="/organizations/{context["district"]}"' in tree.text
        assert 'class="counts"' not in tree.text
        one = await client.get(f"/organizations/{context['district']}", follow_redirects=False)
        assert one.status_code == 200, one.text[:400]
        assert "/members?organization_id=" not in one.text
        assert "/group-link" not in one.text and "/invites" not in one.text
        members = await client.get("/members", follow_redirects=False)
        assert members.status_code in (403, 404)
