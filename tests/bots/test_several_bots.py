"""Several bots in one deployment, each serving an organization subtree (issue 15, item 4).

The world's tree: province > district (> commune), province > district2, and an outsider root.
Bot "huyen-a" serves the district's subtree, bot "huyen-b" the second district's; the default
bot serves everything else. Each bot talks to a sandbox of its own (its own Telegram, its own
people, its own update ids, which all start at 1).
"""

from __future__ import annotations

import contextlib
import os

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots import identity, runtime
from coordinator.bots.models import TelegramUpdate
from coordinator.bots.sender import Lane
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.delivery.models import DEFAULT_BOT, OutboxMessage
from coordinator.organizations import invites
from coordinator.organizations.members import create_member
from coordinator.organizations.models import Member
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import BotConfig, SettingsError, read_settings
from tests.bots.test_bot import TOKEN, Phone, eventually, onboard
from tests.factories import BOT_USERNAME

BOTS = {  # name: (token, username, the world key of the organization it serves)
    "huyen-a": ("2000:huyen-a-token", "HuyenA_Volunteers_bot", "district"),
    "huyen-b": ("3000:huyen-b-token", "HuyenB_Volunteers_bot", "district2"),
}


async def _register(world) -> dict[str, int]:
    configs = tuple(
        BotConfig(name, token, world.org[org]) for name, (token, _, org) in BOTS.items()
    )
    return await identity.sync_bots(world.db, configs)


async def test_an_organization_is_served_by_its_nearest_ancestors_bot(world):
    ids = await _register(world)
    async with world.db.read() as session:
        bot_of = {key: await identity.bot_of(session, world.org[key]) for key in world.org}
    assert bot_of == {
        "province": DEFAULT_BOT,
        "district": ids["huyen-a"],
        "commune": ids["huyen-a"],  # below the district: its nearest ancestor with a bot
        "district2": ids["huyen-b"],
        "outsider": DEFAULT_BOT,
    }
    # A bot for the whole province: the districts keep their own, nearer bots.
    more = (*(BotConfig(n, t, world.org[o]) for n, (t, _, o) in BOTS.items()),)
    more += (BotConfig("tinh", "4000:tinh-token", world.org["province"]),)
    again = await identity.sync_bots(world.db, more)
    assert again["huyen-a"] == ids["huyen-a"]  # a bot keeps its id for life
    async with world.db.read() as session:
        assert await identity.bot_of(session, world.org["commune"]) == ids["huyen-a"]
        assert await identity.bot_of(session, world.org["province"]) == again["tinh"]
        assert await identity.bot_of(session, world.org["outsider"]) == DEFAULT_BOT
    # Dropped from the settings: it serves nothing any more.
    await identity.sync_bots(world.db, ())
    async with world.db.read() as session:
        assert await identity.bot_of(session, world.org["commune"]) == DEFAULT_BOT


async def test_invite_links_name_the_bot_of_the_members_organization(world):
    ids = await _register(world)
    for name, (token, username, _) in BOTS.items():
        await identity.record_identity(world.db, int(token.split(":")[0]), username, ids[name])
    admin = world.actor["admin"]
    names = {}
    for key in ("d1", "c1", "o1"):
        link = await invites.member_invite(world.db, admin, world.member[key])
        names[key] = link.link.split("/")[3].split("?")[0]
    group = await invites.group_invite(world.db, admin, world.org["district2"], None)
    assert names == {
        "d1": "HuyenA_Volunteers_bot",
        "c1": "HuyenA_Volunteers_bot",
        "o1": BOT_USERNAME,  # the default bot serves everything else
    }
    assert group.link.startswith("https://t.me/HuyenB_Volunteers_bot?startgroup=")


def test_the_bots_setting_is_parsed_strictly():
    base = {"COORDINATOR_TELEGRAM_TOKEN": "1:default"}
    good = read_settings(base | {"COORDINATOR_TELEGRAM_BOTS": "ha-noi=11:abc@3, hue=12:def@4"})
    assert good.telegram_bots == (BotConfig("ha-noi", "11:abc", 3), BotConfig("hue", "12:def", 4))
    for value, says in [
        ("hanoi=11:abc", "@organization_id"),
        ("Ha Noi=11:abc@3", "not a bot name"),
        ("default=11:abc@3", "not a bot name"),
        ("hanoi=secret@3", "needs a token"),
        ("a=11:abc@3,b=11:abc@4", "its own token"),
        ("a=11:abc@3,a=12:abc@4", "its own name"),
        ("a=11:abc@3,b=12:abc@3", "its own organization"),
        ("a=1:default@3", "the token of COORDINATOR_TELEGRAM_TOKEN"),
    ]:
        with pytest.raises(SettingsError, match=says) as caught:
            read_settings(base | {"COORDINATOR_TELEGRAM_BOTS": value})
        assert "abc" not in str(caught.value) and "secret" not in str(caught.value)
    with pytest.raises(SettingsError, match="needs COORDINATOR_TELEGRAM_TOKEN"):
        read_settings({"COORDINATOR_TELEGRAM_BOTS": "a=11:abc@3"})


@pytest.fixture
async def lanes(world):
    """Three bots running against this test's database, each with its own sandbox."""
    async with world.db.write() as session:  # only those who open an invite here are linked
        await session.execute(update(Member).values(telegram_user_id=None))
    ids = await _register(world)
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
    worlds = {"default": World(TOKEN, username=BOT_USERNAME)}
    for n, (name, (token, username, _)) in enumerate(BOTS.items(), start=2):
        worlds[name] = World(token, username=username, first_person_id=n * 100_000_001)
    async with contextlib.AsyncExitStack() as stack:
        sandboxes = {}
        for name, bot_world in worlds.items():
            sandbox = await stack.enter_async_context(running_sandbox(bot_world))
            lane = Lane(ids[name], name) if name in ids and name != "default" else Lane()
            telegram = runtime.build(world.db, settings, bot_world.token, sandbox.base_url, lane)
            await stack.enter_async_context(runtime.running(telegram))
            sandboxes[name] = sandbox
        for name in BOTS:  # links for a bot's people wait for its getMe

            async def known(bot: int = ids[name]) -> bool:
                async with world.db.read() as session:
                    return bool(
                        await session.scalar(
                            select(identity.BotRecord.username).where(identity.BotRecord.id == bot)
                        )
                    )

            await eventually(known)
        yield sandboxes, ids


async def test_each_member_gets_their_card_through_their_own_bot(world, lanes):
    sandboxes, ids = lanes
    b1 = await create_member(
        world.db,
        world.actor["admin"],
        organization_id=world.org["district2"],
        display_name="Đoàn viên b1",
    )
    world.member["b1"] = b1.id
    p1 = await create_member(
        world.db,
        world.actor["admin"],
        organization_id=world.org["province"],
        display_name="Đoàn viên p1",
    )
    world.member["p1"] = p1.id
    phones = {
        "d1": await onboard(world, sandboxes["huyen-a"], "d1"),
        "c1": await onboard(world, sandboxes["huyen-a"], "c1"),
        "b1": await onboard(world, sandboxes["huyen-b"], "b1"),
        "p1": await onboard(world, sandboxes["default"], "p1"),
    }
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    cards = {
        k: await eventually(lambda p=p: p.bot_said("Cảnh giác lừa đảo")) for k, p in phones.items()
    }
    # Each Telegram saw only its own bot's cards: a volunteer is messaged by their bot only.
    assert {n: s.world.sent for n, s in sandboxes.items()} == {
        "default": 1 + 1,  # p1's welcome and card
        "huyen-a": 2 + 2,
        "huyen-b": 1 + 1,
    }
    async with world.db.read() as session:
        outbox = dict(
            (
                await session.execute(
                    select(Assignment.member_id, OutboxMessage.bot_id).join(
                        Assignment, col(Assignment.id) == OutboxMessage.assignment_id
                    )
                )
            ).all()
        )
    expected = {"d1": "huyen-a", "c1": "huyen-a", "b1": "huyen-b", "p1": "default"}
    assert outbox == {world.member[k]: ids[v] for k, v in expected.items()}
    # Presses come in on each bot and are recorded, whatever the update ids.
    for key in ("d1", "b1", "p1"):
        answer = await phones[key].press(cards[key], "done")
        assert "Đã làm xong" in answer["text"]
    async with world.db.read() as session:
        done = set(
            (
                await session.scalars(
                    select(Assignment.member_id).where(Assignment.status == "done")
                )
            ).all()
        )
        reports = (await session.scalars(select(Report.action))).all()
        first_updates = (
            await session.execute(
                select(TelegramUpdate.bot_id, TelegramUpdate.processed_at).where(
                    TelegramUpdate.update_id == 1
                )
            )
        ).all()
    assert done == {world.member[k] for k in ("d1", "b1", "p1")}
    assert sorted(reports) == ["done"] * 3
    # Every bot's first update is update 1: three updates, none dropped as a repeat.
    assert sorted(bot for bot, _ in first_updates) == sorted(ids.values())
    assert all(processed is not None for _, processed in first_updates)


async def test_an_invite_opened_in_another_bot_is_refused_with_the_right_name(world, lanes):
    sandboxes, _ = lanes
    person = sandboxes["default"].world.add_person("Lạc", None, "vi")
    phone = Phone(sandboxes["default"], person.id)
    link = await invites.member_invite(world.db, world.actor["admin"], world.member["d1"])
    assert "HuyenA_Volunteers_bot" in link.link
    await phone.say(f"/start {link.link.split('start=', 1)[1]}")
    refusal = await eventually(lambda: phone.bot_said("@HuyenA_Volunteers_bot"))
    assert "bot khác" in refusal["text"]
    async with world.db.read() as session:
        assert (await session.get(Member, world.member["d1"])).telegram_user_id is None
    # The same link, opened in its own bot, still works: the refusal did not use it up.
    right = Phone(
        sandboxes["huyen-a"], sandboxes["huyen-a"].world.add_person("Đúng", None, "vi").id
    )
    await right.say(f"/start {link.link.split('start=', 1)[1]}")
    await eventually(lambda: right.bot_said("Huyện đoàn A"))


async def test_each_bot_has_its_own_webhook_route_and_update_ids(world):
    ids = await _register(world)
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_WEBHOOK_SECRET": "webhook-secret-for-tests",
        }
    )
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app

    right = {"X-Telegram-Bot-Api-Secret-Token": "webhook-secret-for-tests"}
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/help"}}
    async with AsyncTestClient(app=create_app(settings)) as client:
        for path in ("/telegram/webhook", "/telegram/webhook/huyen-a", "/telegram/webhook/huyen-b"):
            assert (await client.post(path, json=update, headers=right)).status_code == 200
        assert (await client.post(path, json=update)).status_code == 401
        missing = await client.post("/telegram/webhook/nobody", json=update, headers=right)
        assert missing.status_code == 404
        # Without the secret nobody learns which names exist.
        assert (await client.post("/telegram/webhook/nobody", json=update)).status_code == 401
    async with world.db.read() as session:
        stored = (
            await session.execute(select(TelegramUpdate.bot_id, TelegramUpdate.update_id))
        ).all()
    assert sorted(stored) == sorted((bot, 1) for bot in ids.values())


async def test_a_chat_comes_back_only_through_its_own_bot_and_its_cards_follow_it(world):
    """A member who blocked bot A is reachable again by a message to bot A, not to bot B; the
    cards resent then, and what waits for a chat linked anew, go through the chat's bot."""
    from coordinator.delivery.queue import link_chat
    from coordinator.organizations import onboarding

    ids = await _register(world)
    member_id, chat = world.member["d1"], None
    async with world.db.write() as session:
        member = await session.get(Member, member_id)
        assert member is not None and member.telegram_user_id is not None
        chat = int(member.telegram_user_id)
        await link_chat(session, chat, ids["huyen-a"])
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.write() as session:
        await session.execute(
            # refused when the chat still talked to the default bot
            update(OutboxMessage)
            .where(col(OutboxMessage.chat_id) == chat)
            .values(status="failed", bot_id=DEFAULT_BOT)
        )
        await session.execute(
            update(Member).where(col(Member.id) == member_id).values(unreachable_at=utcnow())
        )
    assert not await onboarding.came_back(world.db, chat, DEFAULT_BOT)  # another bot's chat
    assert not await onboarding.came_back(world.db, chat, ids["huyen-b"])
    assert await onboarding.came_back(world.db, chat, ids["huyen-a"])
    async with world.db.read() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.status, OutboxMessage.bot_id).where(
                    col(OutboxMessage.chat_id) == chat, OutboxMessage.kind == "assignment"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("pending", ids["huyen-a"])]
    # Linked anew through the other bot (a new invite): what waits goes through that one.
    async with world.db.write() as session:
        await link_chat(session, chat, ids["huyen-b"])
    async with world.db.read() as session:
        bots = await session.scalars(
            select(OutboxMessage.bot_id).where(
                col(OutboxMessage.chat_id) == chat, OutboxMessage.status == "pending"
            )
        )
        assert set(bots.all()) == {ids["huyen-b"]}


async def test_admins_see_each_bot_its_subtree_and_whether_its_lanes_run(world):
    """The bots page: name, username, the organization it serves, and each lane's sender and
    update reader as the heartbeats say; only admins may open it."""
    from datetime import timedelta

    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.bots.models import BotRecord
    from coordinator.organizations.models import Organization
    from coordinator.supervisor import LoopHeartbeat
    from tests.web.test_web_authorization import sign_in

    ids = await _register(world)
    now = utcnow()
    async with world.db.write() as session:
        (await session.get(BotRecord, ids["huyen-a"])).username = "HuyenA_Volunteers_bot"
        for loop, ok, error in [
            ("sender", now, None),
            ("poller", now, None),
            ("sender-huyen-a", now, None),
            ("poller-huyen-a", now - timedelta(seconds=5), "NetworkError: timed out"),
        ]:
            session.add(
                LoopHeartbeat(
                    process="web1:42",
                    loop=loop,
                    started_at=now - timedelta(minutes=5),
                    last_ok_at=ok,
                    last_error=error,
                    last_error_at=now if error else None,
                    updated_at=now,
                )
            )
        district = await session.get(Organization, world.org["district"])
        assert district is not None
    tokens = ",".join(f"{n}={t}@{world.org[o]}" for n, (t, _, o) in BOTS.items())
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_TELEGRAM_TOKEN": TOKEN,
            "COORDINATOR_TELEGRAM_BOTS": tokens,
        }
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_in(client, "lead")
        assert (await client.get("/bots")).status_code == 403
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_in(client, "admin")
        assert 'href="/bots"' in (await client.get("/outbox")).text
        answer = await client.get("/bots")
    assert answer.status_code == 200
    rows = answer.text.split('<table class="cards" id="bots">', 1)[1].split("<tr>")[2:]
    by_name = {row.split("<code>", 1)[1].split("</code>", 1)[0]: row for row in rows}
    assert set(by_name) == {"default", "huyen-a", "huyen-b"}
    assert "@HuyenA_Volunteers_bot" in by_name["huyen-a"] and district.name in by_name["huyen-a"]
    assert by_name["default"].count("lane-ok") == 2
    assert "lane-ok" in by_name["huyen-a"] and "lane-failing" in by_name["huyen-a"]
    assert by_name["huyen-b"].count("lane-not-running") == 2
