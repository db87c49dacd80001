"""The real bot, polling the sandbox over loopback HTTP, as volunteers use it."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from sqlmodel import select

from coordinator.bots import runtime
from coordinator.bots.models import TelegramUpdate
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.organizations import invites
from coordinator.organizations.models import GroupChat, Member
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import read_settings
from tests.factories import BOT_USERNAME

TOKEN = "1000:sandbox"


async def eventually(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("not reached before the deadline")
        await asyncio.sleep(0.05)


class Phone:
    """A person's Telegram, through the sandbox's user side."""

    def __init__(self, sandbox, person_id: int) -> None:
        self.sandbox, self.id = sandbox, person_id
        self.http = httpx.AsyncClient(base_url=sandbox.url)

    async def call(self, method: str, path: str, **json):
        r = await self.http.request(method, path, json=json or None)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    async def say(self, text: str, chat_id: int | None = None):
        return await self.call(
            "POST",
            "/sandbox/messages",
            user_id=self.id,
            text=text,
            **({"chat_id": chat_id} if chat_id else {}),
        )

    async def chat(self, chat_id: int | None = None) -> list[dict]:
        return await self.call("GET", f"/sandbox/chats/{chat_id or self.id}/messages")

    async def bot_said(self, fragment: str, chat_id: int | None = None) -> dict | None:
        for message in reversed(await self.chat(chat_id)):
            if message["from"]["is_bot"] and fragment in message.get("text", ""):
                return message
        return None

    async def press(self, message: dict, step: str) -> dict:
        data = next(
            b["callback_data"]
            for b in message["reply_markup"]["inline_keyboard"][0]
            if b["callback_data"].endswith(f":{step}")
        )
        pressed = await self.call(
            "POST",
            "/sandbox/presses",
            user_id=self.id,
            chat_id=message["chat"]["id"],
            message_id=message["message_id"],
            data=data,
        )
        query = pressed["callback_query_id"]

        async def answered():
            return await self.call("GET", f"/sandbox/callback-answers/{query}")

        return await eventually(answered)


@pytest.fixture
async def live(world):
    """Sandbox + bot + sender running against this test's database."""
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
        settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
        telegram = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
        async with runtime.running(telegram):
            yield sandbox


async def onboard(world, sandbox, key: str, language: str = "vi") -> Phone:
    person = sandbox.world.add_person(f"Người {key}", None, language)
    phone = Phone(sandbox, person.id)
    link = await invites.member_invite(world.db, world.actor["admin"], world.member[key])
    secret = link.link.split("start=", 1)[1]
    await phone.say(f"/start {secret}")
    await eventually(lambda: phone.bot_said("Đoàn viên" if language == "vi" else "Welcome"))
    return phone


async def test_it_onboards_a_member_by_invite_once(world, live):
    phone = await onboard(world, live, "d1")
    welcome = await phone.bot_said("Huyện đoàn A")
    assert "Chào mừng" in welcome["text"] or "Welcome" in welcome["text"]
    async with world.db.read() as session:
        member = await session.get(Member, world.member["d1"])
    assert member.telegram_user_id == phone.id
    # The link was single-use: someone else cannot reuse it.
    link = await invites.member_invite(world.db, world.actor["lead"], world.member["d2"])
    secret = link.link.split("start=", 1)[1]
    stranger = Phone(live, live.world.add_person("Lạ", None, "vi").id)
    await stranger.say(f"/start {secret}")
    await stranger.say(f"/start {secret}")
    await eventually(lambda: stranger.bot_said("không hợp lệ"))
    # And an account already linked cannot take another member's invite.
    other = await invites.member_invite(world.db, world.actor["lead"], world.member["d3"])
    await phone.say(f"/start {other.link.split('start=')[1]}")
    await eventually(lambda: phone.bot_said("đã được liên kết"))


async def test_it_delivers_a_task_and_records_every_button(world, live):
    phone = await onboard(world, live, "d1")
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    task = await eventually(lambda: phone.bot_said("Cảnh giác lừa đảo"))
    answer = await phone.press(task, "ack")
    assert "Đã nhận" in answer["text"]
    answer = await phone.press(task, "done")
    assert "Đã làm xong" in answer["text"]

    async def edited():
        message = await phone.bot_said("Cảnh giác lừa đảo")
        return message if "Đã làm xong" in message["text"] else None

    final = await eventually(edited)
    assert "reply_markup" not in final  # no buttons once done
    async with world.db.read() as session:
        reports = (await session.scalars(select(Report.action).order_by(Report.id))).all()
        assignment = await session.scalar(
            select(Assignment).where(Assignment.member_id == world.member["d1"])
        )
    assert reports == ["acknowledged", "done"]
    assert assignment.status == "done"


async def test_it_takes_an_optional_proof_link_after_done(world, live):
    phone = await onboard(world, live, "d1")
    cid = await world.campaign(targets=("district",), proof=True)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    task = await eventually(lambda: phone.bot_said("Cảnh giác lừa đảo"))
    await phone.press(task, "done")
    await eventually(lambda: phone.bot_said("minh chứng"))
    await phone.say("không phải link")
    await eventually(lambda: phone.bot_said("Đây không phải đường dẫn"))
    await phone.say("https://facebook.com/me/posts/42")
    await eventually(lambda: phone.bot_said("đã được lưu"))
    async with world.db.read() as session:
        report = await session.scalar(select(Report).where(Report.action == "done"))
    assert report.proof_url == "https://facebook.com/me/posts/42"


async def test_it_stops_and_restarts_on_request_and_switches_language(world, live):
    phone = await onboard(world, live, "d1")
    await phone.say("/stop")
    await eventually(lambda: phone.bot_said("/start"))
    async with world.db.read() as session:
        assert (await session.get(Member, world.member["d1"])).opted_out_at is not None
    await phone.say("/lang en")
    await eventually(lambda: phone.bot_said("Language set to English."))
    await phone.say("/start")
    await eventually(lambda: phone.bot_said("Welcome back"))
    async with world.db.read() as session:
        member = await session.get(Member, world.member["d1"])
    assert member.opted_out_at is None and member.locale == "en"
    await phone.say("/tasks")
    await eventually(lambda: phone.bot_said("no open tasks"))


async def test_it_runs_group_mode_with_counts_and_refuses_outsiders(world, live):
    members = {key: await onboard(world, live, key) for key in ("d1", "d2", "o1")}
    groups = {}
    for title, org, people in (
        ("Huyện A", "district", ("d1", "d2", "o1")),
        ("Xã A1", "commune", ("d1",)),
    ):
        chat = await members["d1"].call(
            "POST", "/sandbox/groups", title=title, member_ids=[members[k].id for k in people]
        )
        link = await invites.group_invite(world.db, world.actor["lead"], world.org[org], None)
        await members["d1"].call(
            "POST",
            f"/sandbox/groups/{chat['id']}/bot",
            user_id=members["d1"].id,
            start_parameter=link.link.split("startgroup=", 1)[1],
        )
        await eventually(lambda chat=chat: members["d1"].bot_said("nhận nhiệm vụ", chat["id"]))
        groups[org] = chat["id"]
    async with world.db.read() as session:
        assert len((await session.scalars(select(GroupChat))).all()) == 2
    cid = await world.campaign(targets=("district",), mode="group")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    group_task = await eventually(lambda: members["d1"].bot_said("Cảnh giác", groups["district"]))
    assert "Đoàn viên" not in group_task["text"]  # counts, never names
    assert "Đã làm xong" in (await members["d1"].press(group_task, "done"))["text"]
    assert "Đã nhận" in (await members["d2"].press(group_task, "ack"))["text"]
    refusal = await members["o1"].press(group_task, "done")
    assert refusal["show_alert"] and "Chỉ thành viên" in refusal["text"]

    async def counted():
        message = await members["d1"].bot_said("Cảnh giác", groups["district"])
        return "Đã làm xong: 1" in message["text"] and "Đã nhận: 1" in message["text"]

    await eventually(counted, seconds=15)


async def test_a_malformed_polled_update_is_kept_as_failed_and_polling_goes_on(world, live):
    bad = await live.world.push_update("callback_query", 5)  # not an object: cannot be read
    phone = Phone(live, live.world.add_person("An", None, "vi").id)
    await phone.say("/help")
    await eventually(lambda: phone.bot_said("/tasks"))
    async with world.db.read() as session:
        row = await session.get(TelegramUpdate, (DEFAULT_BOT, bad["update_id"]))
    assert row is not None and row.status == "failed" and row.error


async def test_only_one_of_two_processes_takes_the_updates(world):
    """Telegram refuses a second concurrent getUpdates (409 Conflict), and two inboxes would
    answer every message twice: one bot runtime leads, the other stands by."""
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
        settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
        first = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
        second = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
        async with runtime.running(first), runtime.running(second):
            stranger = Phone(sandbox, sandbox.world.add_person("Lạ", None, "vi").id)
            await stranger.say("/help")
            await eventually(lambda: stranger.bot_said("/tasks"))
            await stranger.say("/help")

            async def two_answers():
                said = [m for m in await stranger.chat() if m["from"]["is_bot"]]
                return len(said) >= 2

            await eventually(two_answers)
            leading = [t.updates_leader.leading for t in (first, second)]
            assert sorted(leading) == [False, True]
            said = [m for m in await stranger.chat() if m["from"]["is_bot"]]
            assert len(said) == 2  # one answer per message, not two
