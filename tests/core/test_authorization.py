"""Every API route, walked by the four roles and an outsider organization.

Each row says who may use the route; everyone else must get 403 or 404 and change nothing.
A new route that is missing from this table fails `test_it_covers_every_route`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from coordinator.auth.models import AuditEvent
from coordinator.base import utcnow
from coordinator.campaigns import approvals
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.delivery.models import OutboxMessage
from tests.conftest import open_database
from tests.factories import add_joint_agreement, api_client, build_world

PERSONAS = ("admin", "coordinator", "lead", "leadership", "outsider_coordinator", "outsider_lead")
ALL = frozenset(PERSONAS)
NAMED = frozenset({"admin", "coordinator", "lead", "outsider_coordinator", "outsider_lead"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {placeholders} filled from the context
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    files: dict[str, Any] | None = field(default=None, hash=False)


def _now_plus(**delta: float) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


CAMPAIGN_BODY = {
    "agreement_id": "{agreement}",
    "title": "Tuyên truyền",
    "launch_at": "{soon}",
    "deadline_at": "{later}",
}
ROUTES = [
    Route("GET", "/api/v1/me", ALL),
    Route("GET", "/api/v1/tallies", ALL),
    Route("GET", "/api/v1/tallies?start=2026-01-01&end=2026-12-31", ALL),
    Route("GET", "/api/v1/organizations", ALL),
    Route("POST", "/api/v1/organizations", frozenset({"admin"}), {"name": "Đoàn mới"}),
    Route("GET", "/api/v1/organizations/{district}", ALL),
    Route("PATCH", "/api/v1/organizations/{district}", frozenset({"admin"}), {"name": "Đổi"}),
    Route("GET", "/api/v1/clubs", ALL),
    Route(
        "POST",
        "/api/v1/clubs",
        frozenset({"admin", "lead"}),
        {"organization_id": "{district}", "name": "CLB mới"},
    ),
    Route("PATCH", "/api/v1/clubs/{club}", frozenset({"admin", "lead"}), {"name": "CLB đổi tên"}),
    Route("GET", "/api/v1/members", NAMED),
    Route(
        "POST",
        "/api/v1/members",
        frozenset({"admin", "lead"}),
        {"organization_id": "{district}", "display_name": "Người mới"},
    ),
    Route(
        "POST",
        "/api/v1/members/import?organization_id={district}",
        frozenset({"admin", "lead"}),
        files={"file": ("a.csv", "họ tên\nNgười nhập\n".encode(), "text/csv")},
    ),
    Route("GET", "/api/v1/members/{member}", frozenset({"admin", "coordinator", "lead"})),
    Route(
        "PATCH",
        "/api/v1/members/{member}",
        frozenset({"admin", "lead"}),
        {"display_name": "Tên mới"},
    ),
    Route("POST", "/api/v1/members/{member}/deactivate", frozenset({"admin", "lead"})),
    Route("POST", "/api/v1/members/{member}/invite", frozenset({"admin", "lead"})),
    Route("GET", "/api/v1/group-chats", NAMED),
    Route(
        "POST",
        "/api/v1/group-chats/invite",
        frozenset({"admin", "lead"}),
        {"organization_id": "{district}"},
    ),
    Route("GET", "/api/v1/agreements", ALL),
    Route(
        "POST",
        "/api/v1/agreements",
        frozenset({"admin"}),
        {
            "title": "Quy chế mới",
            "lead_organization_id": "{district}",
            "signed_on": "2026-01-01",
            "valid_from": "2026-01-01",
            "valid_until": "2026-12-31",
        },
    ),
    Route(
        "GET",
        "/api/v1/agreements/{agreement}",
        frozenset({"admin", "coordinator", "lead", "leadership"}),
    ),
    Route(
        "PUT",
        "/api/v1/agreements/{agreement}",
        frozenset({"admin", "coordinator"}),  # the coordinator's organization leads it
        {
            "title": "Quy chế sửa",
            "signed_on": "2026-01-05",
            "valid_from": "2026-01-10",
            "valid_until": "2027-12-31",
            "confirm": True,
        },
    ),
    Route("GET", "/api/v1/channels", ALL),
    Route(
        "POST",
        "/api/v1/channels",
        frozenset({"admin", "lead", "coordinator"}),  # the district is in the coordinator's reach
        {
            "organization_id": "{district}",
            "platform": "zalo",
            "url": "https://zalo.me/huyendoan",
            "name": "Zalo OA",
        },
    ),
    Route("GET", "/api/v1/outbox/summary", frozenset({"admin"})),
    Route("GET", "/api/v1/outbox/troubled", frozenset({"admin"})),
    Route("POST", "/api/v1/outbox/{outbox_row}/retry", frozenset({"admin"})),
    Route("GET", "/api/v1/campaigns", ALL),
    Route("POST", "/api/v1/campaigns", frozenset({"admin", "coordinator"}), CAMPAIGN_BODY),
    Route(
        "GET",
        "/api/v1/campaigns/{campaign}",
        frozenset({"admin", "coordinator", "lead", "leadership"}),
    ),
    Route(
        "PUT", "/api/v1/campaigns/{campaign}", frozenset({"admin", "coordinator"}), CAMPAIGN_BODY
    ),
    Route(
        "POST",
        "/api/v1/campaigns/{campaign}/content-items",
        frozenset({"admin", "coordinator"}),
        {"url": "{channel}/posts/9", "actions": ["share"]},
    ),
    Route(
        "PUT",
        "/api/v1/campaigns/{campaign}/targets",
        frozenset({"admin", "coordinator"}),
        {"organization_ids": ["{commune}"]},
    ),
    Route("POST", "/api/v1/campaigns/{campaign}/schedule", frozenset({"admin", "coordinator"})),
    Route("POST", "/api/v1/campaigns/{campaign}/launch", frozenset({"admin", "coordinator"})),
    Route("POST", "/api/v1/campaigns/{active}/close", frozenset({"admin", "coordinator"})),
    Route("POST", "/api/v1/campaigns/{campaign}/cancel", frozenset({"admin", "coordinator"})),
    Route("POST", "/api/v1/campaigns/{joint}/submit", frozenset({"admin", "coordinator"})),
    Route("POST", "/api/v1/campaigns/{submitted}/approve", frozenset({"admin"}), {"comment": ""}),
    Route("POST", "/api/v1/campaigns/{submitted}/return", frozenset({"admin"}), {"comment": "Sửa"}),
    Route(
        "GET",
        "/api/v1/campaigns/{active}/tally",
        frozenset({"admin", "coordinator", "lead", "leadership"}),
    ),
    Route(
        "GET",
        "/api/v1/campaigns/{active}/responses",
        frozenset({"admin", "coordinator", "lead", "leadership"}),
    ),
    Route("GET", "/api/v1/assignments", NAMED),
    Route("GET", "/api/v1/reports", NAMED),
    Route(
        "POST",
        "/api/v1/reports",
        frozenset({"admin", "lead"}),
        {"assignment_id": "{assignment}", "member_id": "{member}", "action": "acknowledged"},
    ),
    Route("GET", "/api/v1/users", frozenset({"admin"})),
    Route(
        "POST",
        "/api/v1/users",
        frozenset({"admin"}),
        {
            "username": "new-user",
            "password": "a long enough password",
            "role": "lead",
            "organization_id": "{district}",
        },
    ),
    Route("PATCH", "/api/v1/users/{lead_user}", frozenset({"admin"}), {"role": "coordinator"}),
    Route(
        "POST", "/api/v1/users/{lead_user}/tokens", frozenset({"admin", "lead"}), {"name": "script"}
    ),
    Route("GET", "/api/v1/audit-events", frozenset({"admin"})),
]


async def _context(world) -> dict[str, Any]:
    """Objects the routes act on: a draft campaign, an active one, and one of its tasks; a
    party's draft under an agreement led by another organization, and one submitted."""
    draft = await world.campaign(targets=("province",))
    await add_joint_agreement(world)
    joint = await world.campaign(agreement="joint", targets=("province",))
    submitted = await world.campaign(agreement="joint", targets=("province",))
    await approvals.submit_campaign(world.db, world.actor["coordinator"], submitted)
    active = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], active)
    async with world.db.write() as session:
        assignment = await session.scalar(
            select(Assignment.id).where(
                Assignment.campaign_id == active, Assignment.member_id == world.member["d1"]
            )
        )
        dead = OutboxMessage(dedupe_key="walk:dead", chat_id=1, kind="text", status="failed")
        session.add(dead)
        await session.flush()
    return {
        "outbox_row": dead.id,
        "district": world.org["district"],
        "commune": world.org["commune"],
        "club": world.club["club"],
        "member": world.member["d1"],
        "agreement": world.agreement["province"],
        "channel": world.channel_url["province"],
        "campaign": draft,
        "active": active,
        "joint": joint,
        "submitted": submitted,
        "assignment": assignment,
        "lead_user": world.user_id["lead"],
        "soon": _now_plus(hours=1),
        "later": _now_plus(days=5),
    }


def _fill(value: Any, ctx: dict[str, Any]) -> Any:
    if (
        isinstance(value, str)
        and value.startswith("{")
        and value.endswith("}")
        and value.count("{") == 1
    ):
        return ctx[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ctx)
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    return value


async def _call(client, route: Route, who: str, ctx: dict[str, Any]):
    kwargs: dict[str, Any] = {"headers": client.as_(who)}
    if route.body is not None:
        kwargs["json"] = _fill(route.body, ctx)
    if route.files is not None:
        kwargs["files"] = route.files
    return await client.request(route.method, _fill(route.path, ctx), **kwargs)


async def _audit_count(db) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_it_lets_only_the_right_people_use(route: Route, db, template_url, tmp_path):
    world = await build_world(db)
    ctx = await _context(world)
    async with api_client(world) as client:
        for who in sorted(ALL - route.allowed):
            before = await _audit_count(db)
            r = await _call(client, route, who, ctx)
            assert r.status_code in (403, 404), f"{who} got {r.status_code}: {r.text}"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert await _audit_count(db) == before, f"{who} changed something"
        allowed = sorted(route.allowed)
        first = await _call(client, route, allowed[0], ctx)
        assert first.status_code in (200, 201), (
            f"{allowed[0]} got {first.status_code}: {first.text}"
        )
    # The other allowed personas each try on a fresh world, since the first one changed it.
    await db.dispose()
    for who in allowed[1:]:
        await _fresh_try(template_url, tmp_path, route, who)


async def _fresh_try(template_url, tmp_path, route: Route, who: str) -> None:
    db = await open_database(template_url, tmp_path)
    try:
        world = await build_world(db)
        ctx = await _context(world)
        async with api_client(world) as client:
            r = await _call(client, route, who, ctx)
            assert r.status_code in (200, 201), f"{who} got {r.status_code}: {r.text}"
    finally:
        await db.dispose()


def test_it_covers_every_route():
    from coordinator.app import create_app
    from coordinator.settings import read_settings

    app = create_app(read_settings())
    served = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api/v1")
        for method in route.methods - {"HEAD", "OPTIONS"}
    }
    walked = {(r.method, _template(r.path)) for r in ROUTES}
    assert served == walked


def _template(path: str) -> str:
    names = {
        "{district}": "{org_id:int}",
        "{club}": "{club_id:int}",
        "{member}": "{member_id:int}",
        "{agreement}": "{agreement_id:int}",
        "{campaign}": "{campaign_id:int}",
        "{active}": "{campaign_id:int}",
        "{joint}": "{campaign_id:int}",
        "{submitted}": "{campaign_id:int}",
        "{lead_user}": "{user_id:int}",
        "{outbox_row}": "{row_id:int}",
    }
    path = path.split("?")[0]
    for placeholder, param in names.items():
        path = path.replace(placeholder, param)
    return path
