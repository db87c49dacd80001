"""Who may draft agreements and register channels, asked the same way by the services, the API
and the pages; and the pages say who can act when the reader cannot (in vi and en)."""

from __future__ import annotations

import os
from datetime import date

import pytest
from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.auth import policy
from coordinator.errors import Forbidden, NotFound
from coordinator.organizations import agreements
from coordinator.settings import read_settings
from tests.web.test_web_authorization import sign_in

DATES = {"signed_on": date(2026, 1, 1), "valid_from": date(2026, 1, 1)}
BODY = {"signed_on": "2026-01-01", "valid_from": "2026-01-01", "valid_until": "2026-12-31"}


async def _draft(world, who: str, lead: str):  # type: ignore[no-untyped-def]
    return await agreements.create_agreement(
        world.db,
        world.actor[who],
        title=f"Quy chế {who}",
        lead_organization_id=world.org[lead],
        party_ids=[world.org["district"]],
        valid_until=date(2026, 12, 31),
        **DATES,
    )


def test_the_policy_answers_for_each_persona(world):
    a, org = world.actor, world.org
    assert policy.drafts_agreement_for(a["admin"], org["outsider"])
    assert policy.drafts_agreement_for(a["coordinator"], org["province"])
    assert not policy.drafts_agreement_for(a["coordinator"], org["district"])
    assert not policy.drafts_agreement_for(a["lead"], org["district"])
    assert not policy.drafts_agreements(a["leadership"])
    assert policy.registers_channels_for(a["coordinator"], org["commune"])  # below their own
    assert not policy.registers_channels_for(a["coordinator"], org["outsider"])
    assert policy.registers_channels_for(a["lead"], org["district"])  # leads keep theirs
    assert not policy.registers_channels_for(a["leadership"], org["province"])
    for who in ("admin", "coordinator", "lead", "leadership"):
        can = policy.rights(a[who])
        for key in ("province", "district", "commune", "outsider"):
            assert can.drafts_agreement_for(org[key]) == policy.drafts_agreement_for(
                a[who], org[key]
            )
            assert can.registers_channels_for(org[key]) == policy.registers_channels_for(
                a[who], org[key]
            )


async def test_a_coordinator_drafts_and_corrects_agreements_of_their_organization(world):
    drafted = await _draft(world, "coordinator", "province")
    assert drafted.id
    for who, lead in [
        ("coordinator", "district"),
        ("lead", "district"),
        ("leadership", "province"),
    ]:
        with pytest.raises(Forbidden):
            await _draft(world, who, lead)
    fields = {"title": "Sửa", "party_ids": [], "valid_until": date(2027, 12, 31), **DATES}
    fixed = await agreements.update_agreement(
        world.db, world.actor["coordinator"], world.agreement["province"], **fields
    )
    assert fixed.title == "Sửa"
    with pytest.raises(NotFound):  # not a party: no hint that it exists
        await agreements.update_agreement(
            world.db, world.actor["coordinator"], world.agreement["outsider"], **fields
        )
    with pytest.raises(Forbidden):  # a party's lead sees it but may not correct it
        await agreements.update_agreement(
            world.db, world.actor["lead"], world.agreement["province"], **fields
        )


async def test_a_coordinator_registers_channels_within_their_reach(world):
    channel = await agreements.create_channel(
        world.db,
        world.actor["coordinator"],
        organization_id=world.org["commune"],
        platform="facebook",
        url="https://www.facebook.com/doan-xa-a1",
        name="Đoàn xã A1",
    )
    assert channel.id
    with pytest.raises(Forbidden):
        await agreements.create_channel(
            world.db,
            world.actor["outsider_coordinator"],
            organization_id=world.org["commune"],
            platform="facebook",
            url="https://www.facebook.com/doan-xa-a1-khac",
            name="Khác",
        )


async def test_the_api_asks_the_same_questions(api, world):
    province, district = world.org["province"], world.org["district"]
    url = "/api/v1/agreements/"
    mine = {"title": "Quy chế API", "lead_organization_id": province, "party_ids": [], **BODY}
    made = await api.post(url, json=mine, headers=api.as_("coordinator"))
    assert made.status_code == 201, made.text
    theirs = {**mine, "lead_organization_id": district}
    assert (await api.post(url, json=theirs, headers=api.as_("coordinator"))).status_code == 403
    assert (await api.post(url, json=mine, headers=api.as_("lead"))).status_code == 403
    edit = {"title": "Quy chế API sửa", "party_ids": [], **BODY}
    target = f"{url}{world.agreement['province']}"
    assert (await api.put(target, json=edit, headers=api.as_("coordinator"))).status_code == 200
    assert (await api.put(target, json=edit, headers=api.as_("lead"))).status_code == 403
    channel = {
        "organization_id": district,
        "platform": "facebook",
        "url": "https://www.facebook.com/huyen-doan-a",
        "name": "Huyện đoàn A",
    }
    channels = "/api/v1/channels/"
    answer = await api.post(channels, json=channel, headers=api.as_("coordinator"))
    assert answer.status_code == 201, answer.text
    other = {**channel, "url": "https://www.facebook.com/huyen-doan-a-2"}
    refused = await api.post(channels, json=other, headers=api.as_("outsider_coordinator"))
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("lang", "drafts", "edits", "registers"),
    [
        (
            "vi",
            "Quản trị viên hoặc điều phối viên của Huyện đoàn A có thể ghi nhận quy chế",
            "Quản trị viên hoặc điều phối viên của Tỉnh đoàn có thể sửa.",
            "có thể đăng ký kênh của Đoàn khối doanh nghiệp",
        ),
        (
            "en",
            "An administrator or a coordinator of Huyện đoàn A can record an agreement",
            "An administrator or a coordinator of Tỉnh đoàn can edit it.",
            "can register its channels.",
        ),
    ],
)
async def test_the_pages_say_who_can_act_when_the_reader_cannot(
    world, lang, drafts, edits, registers
):
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        await sign_in(client, "lead")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        await client.post("/language", data={"lang": lang}, headers=headers)
        listing = (await client.get("/agreements")).text
        assert drafts in listing and edits in listing
        assert 'action="/agreements"' not in listing
        # The coordinator is told too, about an organization outside their reach.
        client.cookies.clear()
        await sign_in(client, "coordinator")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        await client.post("/language", data={"lang": lang}, headers=headers)
        outsider = (await client.get(f"/organizations/{world.org['outsider']}")).text
        assert registers in outsider
        assert f'action="/organizations/{world.org["outsider"]}/channels"' not in outsider
        own = (await client.get(f"/organizations/{world.org['commune']}")).text
        assert f'action="/organizations/{world.org["commune"]}/channels"' in own
        listing = (await client.get("/agreements")).text
        assert 'action="/agreements"' in listing
        assert f'href="/agreements/{world.agreement["province"]}/edit"' in listing
