"""Agreements bound campaigns: their dates, their parties, their official channels."""

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from coordinator.auth import service as auth
from coordinator.auth.models import AuditEvent
from coordinator.auth.scope import actor_for
from coordinator.base import row_id, utcnow
from coordinator.campaigns import service as campaigns
from coordinator.errors import Forbidden, Invalid, NotFound
from coordinator.i18n import translate
from coordinator.organizations import agreements
from tests.factories import PASSWORD


async def test_it_refuses_a_campaign_outside_the_agreements_dates(world):
    late = utcnow().replace(year=2028)
    with pytest.raises(Invalid) as error:
        await world.campaign(launch_at=late, deadline_at=late + timedelta(days=3))
    assert error.value.code == "agreement_not_valid"
    assert "valid from 2026-01-10 to 2027-12-31" in error.value.detail


async def test_it_refuses_an_agreement_the_coordinator_is_not_party_to(world):
    with pytest.raises(Forbidden, match="not a party"):
        await world.campaign(agreement="outsider")
    with pytest.raises(Forbidden, match="not a party"):
        await world.campaign(who="outsider_coordinator", agreement="province")
    # A coordinator below a party sees the agreement but cannot open campaigns under it.
    user = await auth.create_user(
        world.db,
        None,
        username="district-coordinator",
        password=PASSWORD,
        role="coordinator",
        organization_id=world.org["district"],
    )
    async with world.db.read() as session:
        world.actor["district_coordinator"] = await actor_for(session, user)
    with pytest.raises(Forbidden, match="not a party"):
        await world.campaign(who="district_coordinator")


async def test_it_targets_parties_their_suborganizations_and_their_clubs_only(world):
    cid = await world.campaign(targets=("commune",), clubs=("club",))
    with pytest.raises(Invalid) as error:
        await campaigns.set_targets(
            world.db,
            world.actor["coordinator"],
            cid,
            organization_ids=[world.org["outsider"]],
            club_ids=[world.club["outsider_club"]],
        )
    assert error.value.code == "target_outside_agreement"
    assert {e["field"] for e in error.value.errors} == {"organization_ids", "club_ids"}
    detail = await campaigns.get_campaign(world.db, world.actor["coordinator"], cid)
    assert {t.organization_id for t in detail.targets} == {world.org["commune"], None}


async def test_it_accepts_content_only_from_a_partys_registered_channel(world):
    cid = await world.campaign(items=0)
    coordinator = world.actor["coordinator"]
    item = await campaigns.add_content_item(
        world.db,
        coordinator,
        cid,
        url="https://m.facebook.com/doan-province/videos/77",
        kind="video",
        actions=["watch", "share"],
    )
    assert item.channel_id
    for url in (
        "https://www.facebook.com/doan-outsider/posts/1",
        "https://www.facebook.com/someone-else/posts/1",
        "https://www.facebook.com/doan-provincefake/posts/1",
    ):
        with pytest.raises(Invalid) as error:
            await campaigns.add_content_item(
                world.db, coordinator, cid, url=url, kind="post", actions=["share"]
            )
        assert error.value.code == "channel_not_registered"
    with pytest.raises(Invalid, match="Not a web address"):
        await campaigns.add_content_item(
            world.db, coordinator, cid, url="javascript:alert(1)", kind="post", actions=["share"]
        )


async def test_it_validates_agreement_input(world):
    with pytest.raises(Invalid) as error:
        await agreements.create_agreement(
            world.db,
            world.actor["admin"],
            title="",
            lead_organization_id=world.org["province"],
            party_ids=[],
            signed_on=date(2027, 1, 1),
            valid_from=date(2026, 6, 1),
            valid_until=date(2026, 1, 1),
        )
    assert {e["field"] for e in error.value.errors} == {"title", "valid_until", "signed_on"}
    with pytest.raises(Invalid, match="Unknown organizations"):
        await agreements.create_agreement(
            world.db,
            world.actor["admin"],
            title="x",
            lead_organization_id=world.org["province"],
            party_ids=[9999],
            signed_on=date(2026, 1, 1),
            valid_from=date(2026, 1, 1),
            valid_until=date(2026, 12, 31),
        )
    with pytest.raises(Forbidden):  # a coordinator drafts only for their own organization
        await agreements.create_agreement(
            world.db,
            world.actor["coordinator"],
            title="x",
            lead_organization_id=world.org["district"],
            party_ids=[],
            signed_on=date(2026, 1, 1),
            valid_from=date(2026, 1, 1),
            valid_until=date(2026, 12, 31),
        )


async def test_it_shows_agreements_to_their_parties_and_leadership(world):
    async def visible(who):
        page, _ = await agreements.list_agreements(world.db, world.actor[who], 50, 0)
        return {a.id for a in page.items}

    both = set(world.agreement.values())
    assert await visible("admin") == both
    assert await visible("leadership") == both
    assert await visible("lead") == {world.agreement["province"]}
    assert await visible("outsider_lead") == {world.agreement["outsider"]}
    with pytest.raises(NotFound):
        await agreements.get_agreement(world.db, world.actor["lead"], world.agreement["outsider"])


async def test_it_registers_channels_once_with_valid_platforms(world):
    lead = world.actor["lead"]
    ch = await agreements.create_channel(
        world.db,
        lead,
        organization_id=world.org["district"],
        platform="tiktok",
        url="https://www.tiktok.com/@huyendoan",
        name="Huyện đoàn",
    )
    assert ch.id
    with pytest.raises(Invalid, match="registered already"):
        await agreements.create_channel(
            world.db,
            lead,
            organization_id=world.org["district"],
            platform="tiktok",
            url="https://www.tiktok.com/@huyendoan",
            name="Again",
        )
    with pytest.raises(Invalid) as error:
        await agreements.create_channel(
            world.db,
            lead,
            organization_id=world.org["district"],
            platform="myspace",
            url="https://x.example/a",
            name="",
        )
    assert {e["field"] for e in error.value.errors} == {"platform", "name"}
    with pytest.raises(Forbidden):
        await agreements.create_channel(
            world.db,
            lead,
            organization_id=world.org["outsider"],
            platform="facebook",
            url="https://fb.example/b",
            name="b",
        )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://www.facebook.com/", "channel_is_platform"),
        ("https://youtube.com", "channel_is_platform"),
        ("https://tiktok.com/", "channel_is_platform"),
        ("https://youtu.be/dQw4w9WgXcQ", "channel_is_short_link"),
        ("https://fb.watch/aBc/", "channel_is_short_link"),
    ],
)
async def test_it_refuses_a_whole_platform_or_a_short_link_as_a_channel(world, url, code):
    with pytest.raises(Invalid) as error:
        await agreements.create_channel(
            world.db,
            world.actor["admin"],
            organization_id=world.org["province"],
            platform="facebook",
            url=url,
            name="Cả nền tảng",
        )
    assert error.value.code == code
    assert error.value.errors[0]["field"] == "url"
    assert translate("vi", error.value.detail) != error.value.detail  # in the catalog


async def _youtube(world, key: str, handle: str) -> int:
    channel = await agreements.create_channel(
        world.db,
        None,
        organization_id=world.org[key],
        platform="youtube",
        url=f"https://www.youtube.com/@{handle}",
        name=f"YouTube {handle}",
    )
    return row_id(channel)


async def test_the_coordinator_picks_the_channel_of_a_video_link_and_it_is_audited(world):
    mine = await _youtube(world, "district", "huyendoan")  # a party's sub-organization
    theirs = await _youtube(world, "outsider", "ngoai")
    cid = await world.campaign(items=0)
    coordinator = world.actor["coordinator"]

    async def add(url: str, channel_id: int | None = None):
        return await campaigns.add_content_item(
            world.db,
            coordinator,
            cid,
            url=url,
            kind="video",
            actions=["watch"],
            channel_id=channel_id,
        )

    for url in ("https://youtu.be/dQw4w9WgXcQ", "https://www.youtube.com/shorts/abc"):
        with pytest.raises(Invalid) as error:
            await add(url)
        assert error.value.code == "channel_choice_needed"
        assert [c["id"] for c in error.value.errors[0]["candidates"]] == [mine]
    item = await add("https://www.youtube.com/watch?v=dQw4w9WgXcQ", mine)
    assert item.channel_id == mine
    shown = await add("https://www.youtube.com/@huyendoan/videos")  # the URL shows it
    assert shown.channel_id == mine
    for url, chosen, code in [
        ("https://youtu.be/x", theirs, "channel_not_candidate"),  # not a party's channel
        ("https://www.facebook.com/doan-province/posts/1", mine, "channel_mismatch"),
        ("https://youtube.com.evil.example/watch?v=1", mine, "channel_not_registered"),
        ("https://y0utube.com/@huyendoan", None, "channel_not_registered"),
    ]:
        with pytest.raises(Invalid) as error:
            await add(url, chosen)
        assert error.value.code == code, url
    async with world.db.read() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "campaign.content")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(e.detail["channel"], e.detail["ownership"]) for e in events] == [
        (mine, "confirmed_by_coordinator"),
        (mine, "url"),
    ]


async def test_the_url_check_asks_for_a_choice_in_the_readers_language(world):
    await _youtube(world, "province", "tinhdoan")
    with pytest.raises(Invalid) as error:
        await campaigns.check_content_url(
            world.db, world.actor["coordinator"], world.agreement["province"], "https://youtu.be/x"
        )
    assert translate("vi", error.value.detail).startswith("Đường dẫn này không cho biết kênh")
    name, org = await campaigns.check_content_url(
        world.db,
        world.actor["coordinator"],
        world.agreement["province"],
        "https://youtu.be/x",
        channel_id=error.value.errors[0]["candidates"][0]["id"],
    )
    assert name == "YouTube tinhdoan" and org
