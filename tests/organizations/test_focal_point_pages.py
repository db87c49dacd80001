"""An agreement's focal points on the web: each party's focal points are listed and a party
without a linked (Telegram-connected) one is flagged; admins and the organization's leads name
or remove them (audited, with who was named before and after); every other role is refused."""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any

from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from coordinator.app import create_app
from coordinator.auth.models import AuditEvent
from coordinator.campaigns import cascade_service
from coordinator.organizations import agreements
from coordinator.organizations.models import FocalPoint
from coordinator.settings import read_settings
from tests.factories import focal_point_id
from tests.web.test_web_authorization import sign_in


async def _agreement(world: Any) -> int:
    a = await agreements.create_agreement(
        world.db,
        None,
        title="Quy chế phối hợp ba bên",
        lead_organization_id=world.org["province"],
        party_ids=[world.org["district"], world.org["district2"]],
        signed_on=date(2026, 1, 5),
        valid_from=date(2026, 1, 10),
        valid_until=date(2027, 12, 31),
    )
    assert a.id is not None
    return a.id


def _client(world: Any) -> AsyncTestClient[Any]:
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    return AsyncTestClient(app=app)


def _section(html: str, org_id: int) -> str:
    found = re.search(rf'<section class="card party" id="party-{org_id}">.*?</section>', html, re.S)
    assert found, f"no section for organization {org_id}"
    return found.group(0)


async def _name(client: Any, aid: int, org: int, users: list[int]) -> Any:
    token = client.cookies["coordinator_csrf"]
    return await client.post(
        f"/agreements/{aid}/focal-points",
        data={
            "organization_id": str(org),
            "user_ids": [str(u) for u in users],
            "_csrf_token": token,
        },
        follow_redirects=False,
    )


async def _focal_ids(world: Any, org: str) -> list[int]:
    async with world.db.read() as session:
        found = await session.scalars(
            select(FocalPoint.user_id).where(FocalPoint.organization_id == world.org[org])
        )
        return sorted(found.all())


async def test_the_agreement_pages_list_focal_points_and_flag_a_party_without_one(world):
    aid = await _agreement(world)
    await focal_point_id(world, "d", "district", 7_000_002)  # linked in Telegram
    async with _client(world) as client:
        await sign_in(client, "coordinator")
        listing = (await client.get("/agreements")).text
        page = (await client.get(f"/agreements/{aid}/focal-points")).text
        await sign_in(client, "leadership")
        leadership = (await client.get(f"/agreements/{aid}/focal-points")).text
    row = next(r for r in listing.split("<tr>") if "Quy chế phối hợp ba bên" in r)
    assert "đầu mối: focal-d" in row and f"/agreements/{aid}/focal-points" in row
    district2 = row.split("Huyện đoàn B", 1)[1]
    assert "chưa có đầu mối liên kết" in district2
    assert "chưa có đầu mối liên kết" not in row.split("Huyện đoàn A", 1)[1].split(",")[0]
    served, unserved = _section(page, world.org["district"]), _section(page, world.org["district2"])
    assert "focal-d" in served and "đã liên kết Telegram" in served
    assert "Chưa có đầu mối liên kết Telegram" in unserved
    assert "Chưa có đầu mối liên kết Telegram" not in served
    assert "focal-form" not in page  # a coordinator names no focal points
    assert "focal-d" not in leadership and "Số đầu mối: 1" in leadership  # no names


async def test_a_lead_names_and_removes_focal_points_audited(world):
    aid = await _agreement(world)
    focal = await focal_point_id(world, "d", "district", 7_000_002)
    lead = world.user_id["lead"]  # the district's lead, not linked in Telegram
    async with _client(world) as client:
        await sign_in(client, "lead")
        page = (await client.get(f"/agreements/{aid}/focal-points")).text
        assert "focal-form" in _section(page, world.org["district"])
        assert "focal-form" not in _section(page, world.org["district2"])
        assert "focal-form" not in _section(page, world.org["province"])
        answer = await _name(client, aid, world.org["district"], [focal, lead])
        assert answer.status_code in (302, 303), answer.text
        assert await _focal_ids(world, "district") == sorted([focal, lead])
        answer = await _name(client, aid, world.org["district"], [lead])
        assert answer.status_code in (302, 303)
        shown = (await client.get(f"/agreements/{aid}/focal-points")).text
    assert await _focal_ids(world, "district") == [lead]
    # Only the lead is left and they are not in Telegram: the party is flagged again.
    assert "Chưa có đầu mối liên kết Telegram" in _section(shown, world.org["district"])
    async with world.db.read() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "organization.focal_points")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [e.actor_user_id for e in events[-2:]] == [lead, lead]
    assert events[-1].object_id == world.org["district"]
    assert events[-1].detail == {
        "before": sorted([focal, lead]),
        "focal_points": [lead],
        "agreement_id": aid,
    }


async def test_refused_roles_are_refused(world):
    aid = await _agreement(world)
    focal = await focal_point_id(world, "d", "district", 7_000_002)
    async with _client(world) as client:
        for who in ("coordinator", "leadership"):
            await sign_in(client, who)
            answer = await _name(client, aid, world.org["district"], [focal])
            assert answer.status_code == 403, (who, answer.status_code)
        await sign_in(client, "lead")  # a lead of the district, not of the second district
        answer = await _name(client, aid, world.org["district2"], [])
        assert answer.status_code == 403
        await sign_in(client, "outsider-lead")  # not a party: the agreement is not there
        answer = await _name(client, aid, world.org["outsider"], [])
        assert answer.status_code == 404
        await sign_in(client, "admin")
        answer = await _name(client, aid, world.org["outsider"], [])  # not one of its parties
        assert answer.status_code == 404
        wrong = await _name(client, aid, world.org["district2"], [world.user_id["lead"]])
        assert wrong.status_code == 200 and "phải là người dùng của đơn vị này" in wrong.text
    assert await _focal_ids(world, "district") == [focal]
    assert await _focal_ids(world, "district2") == []
    # The same rule holds for the service itself.
    try:
        await cascade_service.set_focal_points(
            world.db, world.actor["coordinator"], world.org["district"], []
        )
        raise AssertionError("a coordinator named focal points")
    except Exception as exc:
        assert getattr(exc, "status", 0) == 403
