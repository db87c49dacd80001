"""The party rule wherever it can break: a campaign reaches only its agreement's parties and what
lies below them, checked at target save, at launch (by hand and by the scheduler), and before an
agreement loses a party or changes its dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from coordinator.base import utcnow
from coordinator.campaigns import lifecycle, sweeps, targeting
from coordinator.campaigns.models import Assignment
from coordinator.campaigns.party_rule import NoLongerParty
from coordinator.errors import Invalid
from coordinator.i18n import translate
from coordinator.organizations import agreements
from coordinator.organizations.agreements import AgreementChangeBreaks
from tests.factories import World, api_client
from tests.web.test_web_authorization import sign_in

OUTSIDER = "Đoàn khối doanh nghiệp"
SIGNED, START, END = date(2026, 1, 5), date(2026, 1, 10), date(2027, 12, 31)


async def _joint_campaign(world: World) -> tuple[int, int]:
    """(agreement, campaign): an agreement of the province and the outsider, and a campaign
    under it that targets the outsider's members."""
    joint = await agreements.create_agreement(
        world.db,
        None,
        title="Quy chế liên tịch",
        lead_organization_id=world.org["province"],
        party_ids=[world.org["outsider"]],
        signed_on=SIGNED,
        valid_from=START,
        valid_until=END,
    )
    assert joint.id is not None
    world.agreement["joint"] = joint.id
    world.channel_url["joint"] = world.channel_url["province"]
    campaign = await world.campaign(who="admin", agreement="joint", targets=("outsider",))
    return joint.id, campaign


async def _drop_outsider(world: World, agreement_id: int, *, confirm: bool) -> None:
    await agreements.update_agreement(
        world.db,
        world.actor["admin"],
        agreement_id,
        title="Quy chế liên tịch",
        party_ids=[],
        signed_on=SIGNED,
        valid_from=START,
        valid_until=END,
        confirm=confirm,
    )


async def _assignments(world: World, campaign_id: int) -> int:
    from sqlmodel import func, select

    async with world.db.read() as session:
        stmt = select(func.count()).where(Assignment.campaign_id == campaign_id)
        return int(await session.scalar(stmt) or 0)


async def test_it_refuses_a_launch_after_a_party_left_the_agreement_naming_it(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    await _drop_outsider(world, agreement_id, confirm=True)
    with pytest.raises(NoLongerParty) as refused:
        await lifecycle.launch_campaign(world.db, world.actor["admin"], campaign_id)
    assert OUTSIDER in refused.value.detail and refused.value.code == "party_left"
    vi = translate("vi", refused.value.message, **refused.value.values)
    assert OUTSIDER in vi and vi != refused.value.detail  # said in Vietnamese too
    assert await _assignments(world, campaign_id) == 0  # its members got nothing


async def test_the_scheduler_does_not_launch_it_either_and_says_why(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    await lifecycle.schedule_campaign(world.db, world.actor["admin"], campaign_id)
    await _drop_outsider(world, agreement_id, confirm=True)
    report = sweeps.SweepReport()
    await sweeps.launch_due(world.db, utcnow() + timedelta(hours=2), report)
    assert report.launched == [] and OUTSIDER in report.failed[campaign_id]
    assert await _assignments(world, campaign_id) == 0


async def test_an_agreement_edit_that_breaks_a_campaign_lists_it_and_waits_for_confirmation(
    world,
):
    agreement_id, campaign_id = await _joint_campaign(world)
    with pytest.raises(AgreementChangeBreaks) as refused:
        await _drop_outsider(world, agreement_id, confirm=False)
    assert [b.id for b in refused.value.broken] == [campaign_id]
    assert OUTSIDER in refused.value.broken[0].values["names"]
    _, parties = await agreements.get_agreement(world.db, world.actor["admin"], agreement_id)
    assert world.org["outsider"] in parties  # nothing saved
    with pytest.raises(AgreementChangeBreaks):  # narrower dates break it as well
        await agreements.update_agreement(
            world.db,
            world.actor["admin"],
            agreement_id,
            title="Quy chế liên tịch",
            party_ids=[world.org["outsider"]],
            signed_on=SIGNED,
            valid_from=START,
            valid_until=utcnow().date(),
        )
    await _drop_outsider(world, agreement_id, confirm=True)
    _, parties = await agreements.get_agreement(world.db, world.actor["admin"], agreement_id)
    assert parties == [world.org["province"]]


async def test_an_edit_that_breaks_nothing_needs_no_confirmation(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    await lifecycle.cancel_campaign(world.db, world.actor["admin"], campaign_id)
    await _drop_outsider(world, agreement_id, confirm=False)  # a cancelled campaign is not live


async def test_target_save_still_refuses_organizations_outside_the_agreement(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    await _drop_outsider(world, agreement_id, confirm=True)

    with pytest.raises(Invalid) as refused:
        await targeting.set_targets(
            world.db,
            world.actor["admin"],
            campaign_id,
            organization_ids=[world.org["outsider"]],
            club_ids=[],
        )
    assert refused.value.code == "target_outside_agreement"


def _body(**extra):
    return {
        "title": "Quy chế liên tịch",
        "party_ids": [],
        "signed_on": str(SIGNED),
        "valid_from": str(START),
        "valid_until": str(END),
        **extra,
    }


async def test_the_api_answers_409_listing_the_campaigns_unless_confirmed(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    async with api_client(world) as api:
        url = f"/api/v1/agreements/{agreement_id}"
        refused = await api.put(url, headers=api.as_("admin"), json=_body())
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == "agreement_change_breaks_campaigns"
        assert [e["campaign_id"] for e in problem["errors"]] == [campaign_id]
        assert OUTSIDER in problem["errors"][0]["message"]
        saved = await api.put(url, headers=api.as_("admin"), json=_body(confirm=True))
        assert saved.status_code == 200, saved.text
        assert saved.json()["party_ids"] == [world.org["province"]]


async def test_the_edit_page_lists_the_campaigns_and_asks_to_confirm(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    form = {**_body(), "party_ids": str(world.org["province"])}
    async with api_client(world) as client:
        await sign_in(client, "admin")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        url = f"/agreements/{agreement_id}"
        asked = await client.post(url, data=form, headers=headers, follow_redirects=False)
        assert asked.status_code == 409, asked.text
        assert f'href="/campaigns/{campaign_id}"' in asked.text and OUTSIDER in asked.text
        assert 'name="confirm" value="1"' in asked.text
        _, parties = await agreements.get_agreement(world.db, world.actor["admin"], agreement_id)
        assert world.org["outsider"] in parties
        form["confirm"] = "1"
        saved = await client.post(url, data=form, headers=headers, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        _, parties = await agreements.get_agreement(world.db, world.actor["admin"], agreement_id)
        assert parties == [world.org["province"]]


async def test_the_launch_button_says_in_vietnamese_which_organization_left(world):
    agreement_id, campaign_id = await _joint_campaign(world)
    await _drop_outsider(world, agreement_id, confirm=True)
    async with api_client(world) as client:
        await sign_in(client, "admin")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        url = f"/campaigns/{campaign_id}/launch"
        refused = await client.post(url, headers=headers, follow_redirects=False)
        assert refused.status_code == 303
        status = await client.get(f"/campaigns/{campaign_id}")
        assert f"Không còn thuộc các bên tham gia quy chế: {OUTSIDER}" in status.text
    assert await _assignments(world, campaign_id) == 0
