"""Campaign moves, launch materialization, close and cancel."""

from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Conflict, Forbidden, Invalid, NotFound
from coordinator.organizations.models import GroupChat


async def _rows(db, campaign_id):
    async with db.read() as session:
        assignments = (
            await session.scalars(select(Assignment).where(Assignment.campaign_id == campaign_id))
        ).all()
        outbox = (
            await session.scalars(
                select(OutboxMessage).where(
                    col(OutboxMessage.assignment_id).in_([a.id for a in assignments])
                )
            )
        ).all()
    return assignments, outbox


async def test_it_writes_one_assignment_and_one_outbox_row_per_eligible_member(world):
    cid = await world.campaign(targets=("district",), clubs=("club",))
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assignments, outbox = await _rows(world.db, cid)
    expected = {world.member[k] for k in ("d1", "d2", "d3", "c1")}
    assert result.created == 4 and result.campaign.status == "active"
    assert {a.member_id for a in assignments} == expected
    assert {o.dedupe_key for o in outbox} == {f"assignment:{a.id}" for a in assignments}
    assert all(o.status == "pending" and o.kind == "assignment" for o in outbox)
    async with world.db.read() as session:
        from coordinator.organizations.models import Member

        chats = dict((await session.execute(select(Member.id, Member.telegram_user_id))).all())
    assert {o.chat_id for o in outbox} == {chats[m] for m in expected}


async def test_it_launches_twice_without_duplicates_and_picks_up_late_joiners(world):
    from coordinator.organizations.members import create_member
    from coordinator.organizations.models import Member

    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    again = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert again.created == 0
    late = await create_member(
        world.db,
        world.actor["lead"],
        organization_id=world.org["commune"],
        display_name="Người đến sau",
    )
    async with world.db.write() as session:
        row = await session.get(Member, late.id)
        row.telegram_user_id = 555_000_111
    third = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert third.created == 1
    assignments, outbox = await _rows(world.db, cid)
    assert len(assignments) == len(outbox) == 5


async def test_it_assigns_group_chats_in_group_mode(world):
    async with world.db.write() as session:
        session.add_all(
            [
                GroupChat(
                    telegram_chat_id=-1001, title="Huyện", organization_id=world.org["district"]
                ),
                GroupChat(telegram_chat_id=-1002, title="Xã", organization_id=world.org["commune"]),
                GroupChat(
                    telegram_chat_id=-1003, title="Khác", organization_id=world.org["outsider"]
                ),
                GroupChat(
                    telegram_chat_id=-1004,
                    title="Gone",
                    organization_id=world.org["district"],
                    unreachable_at=utcnow(),
                ),
            ]
        )
    cid = await world.campaign(targets=("district",), mode="group")
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assignments, outbox = await _rows(world.db, cid)
    assert result.created == 2
    assert all(a.member_id is None for a in assignments)
    assert {o.chat_id for o in outbox} == {-1001, -1002}


async def test_it_refuses_to_launch_an_unready_campaign_and_changes_nothing(world):
    cid = await world.campaign(items=0)
    with pytest.raises(Invalid) as error:
        await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert error.value.code == "not_ready"
    detail = await campaigns.get_campaign(world.db, world.actor["coordinator"], cid)
    assert detail.campaign.status == "draft"
    assert (await _rows(world.db, cid)) == ([], [])


async def test_it_refuses_to_launch_after_the_deadline(world):
    now = utcnow()
    cid = await world.campaign(
        launch_at=now + timedelta(hours=1), deadline_at=now + timedelta(hours=2)
    )
    with pytest.raises(Invalid, match="not ready"):
        await campaigns.launch_campaign(
            world.db, world.actor["coordinator"], cid, now=now + timedelta(hours=3)
        )


async def test_it_guards_the_moves(world):
    c = world.actor["coordinator"]
    cid = await world.campaign()
    with pytest.raises(Conflict):
        await campaigns.close_campaign(world.db, c, cid)
    scheduled = await campaigns.schedule_campaign(world.db, c, cid)
    assert scheduled.status == "scheduled"
    with pytest.raises(Conflict):
        await campaigns.schedule_campaign(world.db, c, cid)
    await campaigns.launch_campaign(world.db, c, cid)
    with pytest.raises(Conflict, match="edited"):
        await campaigns.update_campaign(
            world.db,
            c,
            cid,
            campaigns.CampaignDraft(
                agreement_id=world.agreement["province"],
                title="x",
                launch_at=utcnow(),
                deadline_at=utcnow() + timedelta(days=1),
            ),
        )
    closed = await campaigns.close_campaign(world.db, c, cid)
    assert closed.status == "closed"
    assert (await campaigns.close_campaign(world.db, c, cid)).status == "closed"  # a repeat
    with pytest.raises(Conflict):
        await campaigns.launch_campaign(world.db, c, cid)
    with pytest.raises(Conflict):
        await campaigns.cancel_campaign(world.db, c, cid)


async def test_it_expires_open_assignments_and_withdraws_unsent_messages_on_close(world):
    c = world.actor["coordinator"]
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, c, cid)
    async with world.db.write() as session:
        first = await session.scalar(
            select(Assignment).where(Assignment.campaign_id == cid).limit(1)
        )
        first.status = "done"
    await campaigns.close_campaign(world.db, c, cid)
    assignments, outbox = await _rows(world.db, cid)
    statuses = sorted(a.status for a in assignments)
    assert statuses == ["done", "expired", "expired", "expired"]
    assert {o.status for o in outbox} == {"cancelled"}


async def test_it_cancels_a_draft(world):
    cid = await world.campaign()
    cancelled = await campaigns.cancel_campaign(world.db, world.actor["coordinator"], cid)
    assert cancelled.status == "cancelled"


async def test_it_lets_only_coordinators_of_parties_run_campaigns(world):
    cid = await world.campaign()
    for who in ("lead", "leadership"):
        with pytest.raises(Forbidden):
            await campaigns.launch_campaign(world.db, world.actor[who], cid)
    with pytest.raises(NotFound):
        await campaigns.launch_campaign(world.db, world.actor["outsider_coordinator"], cid)


async def test_it_shows_campaigns_to_the_right_people(world):
    district_campaign = await world.campaign(targets=("commune",))
    other_campaign = await world.campaign(targets=("district2",))

    async def visible(who):
        page = await campaigns.list_campaigns(world.db, world.actor[who], None, 50, 0)
        return {c.id for c in page.items}

    both = {district_campaign, other_campaign}
    assert await visible("coordinator") == both
    assert await visible("leadership") == both
    assert await visible("lead") == {district_campaign}  # reaches the lead's commune
    assert await visible("outsider_coordinator") == set()


async def test_it_counts_assignments_in_one_query_per_status(world):
    from coordinator.tallies.service import campaign_tally

    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    tally = await campaign_tally(world.db, world.actor["leadership"], cid)
    async with world.db.read() as session:
        raw = await session.scalar(select(func.count()).select_from(Assignment))
    assert tally.assigned == raw == 4
    assert tally.by_status["pending"] == 4


@pytest.mark.parametrize(
    ("url", "vi", "en"),
    [
        ("https://youtu.be/x", "Đường dẫn này không cho biết kênh", "does not show which channel"),
        (
            "https://www.facebook.com/someone-else/posts/1",
            "Đường dẫn không thuộc kênh chính thức",
            "is not on an official channel",
        ),
        ("https://facebook.com.evil.example/doan-province", "Đường dẫn không thuộc", "not on"),
    ],
)
async def test_the_url_check_speaks_the_readers_language(world, url, vi, en):
    import os

    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.organizations import agreements
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    await agreements.create_channel(
        world.db,
        None,
        organization_id=world.org["province"],
        platform="youtube",
        url="https://www.youtube.com/@tinhdoan",
        name="YouTube",
    )
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        for lang, wanted in (("vi", vi), ("en", en)):
            token = client.cookies["coordinator_csrf"]
            await client.post("/language", data={"lang": lang, "_csrf_token": token})
            answer = await client.post(
                "/campaigns/check-url",
                data={
                    "url": url,
                    "agreement_id": str(world.agreement["province"]),
                    "_csrf_token": token,
                },
            )
            assert answer.status_code == 200, answer.text
            assert wanted in answer.text, (lang, answer.text)
            if lang == "vi":
                assert "official channel" not in answer.text and "not on" not in answer.text


async def test_the_content_form_offers_the_platforms_channels_for_a_video_link(world):
    import os

    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.organizations import agreements
    from coordinator.settings import read_settings
    from tests.web.test_web_authorization import sign_in

    channel = await agreements.create_channel(
        world.db,
        None,
        organization_id=world.org["province"],
        platform="youtube",
        url="https://www.youtube.com/@tinhdoan",
        name="YouTube Tỉnh đoàn",
    )
    cid = await world.campaign(items=0)
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        token = client.cookies["coordinator_csrf"]
        form = {"url": "https://youtu.be/abc", "agreement_id": str(world.agreement["province"])}
        check = await client.post("/campaigns/check-url", data={**form, "_csrf_token": token})
        assert 'name="channel_id"' in check.text and f'value="{channel.id}"' in check.text
        assert "YouTube Tỉnh đoàn" in check.text and "Kênh đã đăng nội dung này" in check.text
        item = {**form, "kind": "video", "actions": "watch", "_csrf_token": token}
        refused = await client.post(f"/campaigns/{cid}/items", data=item)
        assert "hãy chọn kênh đã đăng ký" in refused.text  # Vietnamese, next to the link
        added = await client.post(
            f"/campaigns/{cid}/items",
            data={**item, "channel_id": str(channel.id)},
            follow_redirects=False,
        )
        assert added.status_code in (302, 303), added.text
    detail = await campaigns.get_campaign(world.db, world.actor["coordinator"], cid)
    assert [i.channel_id for i in detail.items] == [channel.id]
