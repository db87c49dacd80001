"""The main Telegram journeys against a Bot API emulator nobody here wrote: telegram-test-api
4.2.1 (npm, pinned in tests/independent/package-lock.json, installed by `make independent`).

Our own sandbox (coordinator/sandbox/) agrees with our code by construction; this one does
not. Our bot runs as a deployment runs it: a `coordinator worker` process with
COORDINATOR_TELEGRAM_TOKEN and COORDINATOR_TELEGRAM_API_URL pointing at the emulator, on this
test's SQLite or PostgreSQL database, over HTTP. People act through the emulator's client side
(tests/independent/emulator.py); the tests check what arrives in the emulator's chats, the
buttons, the Bot API calls the bot made, and the database.

Between the bot and the emulator sits a shim (tests/independent/shim.py). Each shim answers
only what real Telegram answers (https://core.telegram.org/bots/api); everything else is the
emulator's own answer, passed through unchanged:

- getMe: the emulator's user has no `is_bot`, a field Telegram always sends (python-telegram-bot
  refuses the user without it, so no bot could start). The shim adds `is_bot: true`; the
  username (TestNameBot) is the emulator's.
- setMyCommands: the emulator lacks it (HTTP 500, not even Telegram's error shape). The shim
  answers `true`, as Telegram does for a well-formed command list.
- getUpdates: the emulator answers at once and ignores `timeout`; Telegram holds a long poll
  up to `timeout` seconds. The shim holds it, looking at the emulator every 50 ms, so the
  bot's poller does not spin. It adds `chat_instance` to callback queries (Telegram always
  sends it; the emulator drops it and python-telegram-bot cannot read a press without it),
  and removes the emulator's internal `botToken` field from messages.
- sendMessage: the emulator's `date` is in milliseconds; Telegram's is Unix seconds (in
  milliseconds python-telegram-bot fails: "year 58887 is out of range"). The shim divides it.
- editMessageText / editMessageReplyMarkup: the emulator answers `null` and accepts edits of
  messages that do not exist; Telegram answers the edited Message, or 400 "Bad Request:
  message to edit not found". The shim looks the message up in the emulator and answers so.
  (The emulator also keeps old buttons when an edit sends none, where Telegram removes them;
  the tests check the bot's edit request for that, not the emulator's copy.)
- answerCallbackQuery: the emulator answers `null` and keeps nothing; Telegram answers `true`.
  The shim answers `true` and remembers the answer so a test can read what the person saw.
- Faults the emulator cannot produce, switched on by a test: 429 "Too Many Requests: retry
  after N" with `parameters.retry_after` for the next N sendMessage calls, and 403 "Forbidden:
  bot was blocked by the user" for chats whose user blocked the bot (Telegram's exact texts).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Collection

from sqlmodel import select

from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.organizations import invites
from coordinator.organizations.models import GroupChat, Member
from tests.independent.emulator import Person, Telegram, eventually

TITLE = "Cảnh giác lừa đảo"  # the factories' campaign title


def _secret(link: str, parameter: str) -> str:
    found = re.search(rf"[?&]{parameter}=([A-Za-z0-9_-]+)", link)
    assert found, f"no {parameter}= in {link}"
    return found.group(1)


async def _assignment(world, member_key: str, campaign_id: int) -> Assignment:
    async with world.db.read() as session:
        found = await session.scalar(
            select(Assignment).where(
                Assignment.member_id == world.member[member_key],
                Assignment.campaign_id == campaign_id,
            )
        )
    assert found is not None
    return found


async def _delivered(world, member_key: str, campaign_id: int) -> Assignment | None:
    found = await _assignment(world, member_key, campaign_id)
    return found if found.status == "delivered" else None


async def _member(world, key: str) -> Member:
    async with world.db.read() as session:
        found = await session.get(Member, world.member[key])
    assert found is not None
    return found


async def _card(telegram: Telegram, chat_id: int, known: Collection[int] = ()) -> dict:
    """The newest task card in a chat that is not one of `known` (message ids)."""

    async def arrived():
        for message in reversed(await telegram.messages(chat_id)):
            if TITLE in message["text"] and message["message_id"] not in known:
                return message
        return None

    return await eventually(arrived)


async def _edited(telegram: Telegram, card: dict, fragment: str) -> dict:
    async def shows():
        for message in await telegram.messages(card["chat_id"]):
            if message["message_id"] == card["message_id"] and fragment in message["text"]:
                return message
        return None

    return await eventually(shows)


def _buttons_of_last_edit(telegram: Telegram, card: dict) -> object:
    edits = [
        c.params
        for c in telegram.shim.made("editMessageText")
        if str(c.params.get("message_id")) == str(card["message_id"]) and c.status == 200
    ]
    assert edits, "the card was never edited"
    return edits[-1].get("reply_markup")


async def _join(world, telegram: Telegram, key: str, user_id: int) -> Person:
    person = telegram.person(user_id, f"Người {key}")
    link = await invites.member_invite(world.db, world.actor["lead"], world.member[key])
    await person.say(f"/start {_secret(link.link, 'start')}")
    await eventually(lambda: telegram.last_said(person.id, "Chào mừng"))
    return person


async def test_it_onboards_delivers_and_records_every_button(world, telegram, worker):
    an = await _join(world, telegram, "d1", 8_100_001)
    assert (await _member(world, "d1")).telegram_user_id == an.id

    async def commands_registered() -> bool:
        calls = telegram.shim.made("setMyCommands")
        return {c.params.get("language_code") for c in calls} == {"vi", "en"}

    await eventually(commands_registered)

    first = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], first)
    card = await _card(telegram, an.id)
    steps = [
        b["callback_data"].rsplit(":", 1)[1] for b in card["reply_markup"]["inline_keyboard"][0]
    ]
    assert steps == ["ack", "done", "no"]
    assignment = await eventually(lambda: _delivered(world, "d1", first))
    assert assignment.telegram_message_id == card["message_id"]

    assert (await an.press(card, "ack"))["text"] == "Đã ghi nhận: Đã nhận"
    await _edited(telegram, card, "Trạng thái của bạn: <b>Đã nhận</b>")
    assert (await an.press(card, "done"))["text"] == "Đã ghi nhận: Đã làm xong"
    await _edited(telegram, card, "Trạng thái của bạn: <b>Đã làm xong</b>")
    assert _buttons_of_last_edit(telegram, card) is None  # a finished task has no buttons
    assert (await _assignment(world, "d1", first)).status == "done"

    second = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], second)
    card2 = await _card(telegram, an.id, known={card["message_id"]})
    await an.say("/tasks")
    listing = await eventually(lambda: telegram.last_said(an.id, "Nhiệm vụ đang mở của bạn:"))
    assert listing["text"].count("•") == 1 and "Chưa xác nhận" in listing["text"]

    assert (await an.press(card2, "no"))["text"] == "Đã ghi nhận: Không thực hiện được"
    await _edited(telegram, card2, "Trạng thái của bạn: <b>Không thực hiện được</b>")
    assert _buttons_of_last_edit(telegram, card2) is None
    assert (await _assignment(world, "d1", second)).status == "declined"
    await an.say("/tasks")
    await eventually(lambda: telegram.last_said(an.id, "Bạn không có nhiệm vụ nào đang mở."))

    await an.say("/stop")
    await eventually(lambda: telegram.last_said(an.id, "Bạn sẽ không nhận nhiệm vụ nữa"))
    assert (await _member(world, "d1")).opted_out_at is not None


async def _linked(world, telegram: Telegram, key: str) -> Person:
    """A member the factories already linked, as a person on the emulator."""
    member = await _member(world, key)
    assert member.telegram_user_id is not None
    return telegram.person(member.telegram_user_id, member.display_name)


async def test_it_runs_a_group_with_counts_and_members_presses(world, telegram, worker):
    d1, d2, outsider = [await _linked(world, telegram, k) for k in ("d1", "d2", "o1")]
    group = {"id": -100_500_001, "type": "group", "title": "Huyện đoàn A"}
    link = await invites.group_invite(world.db, world.actor["lead"], world.org["district"], None)
    # A ?startgroup= link adds the bot and sends /start@<bot> <parameter> in the group.
    await d1.say(f"/start@{telegram.bot['username']} {_secret(link.link, 'startgroup')}", group)
    await eventually(lambda: telegram.last_said(group["id"], "Nhóm này sẽ nhận nhiệm vụ"))
    async with world.db.read() as session:
        registered = await session.scalar(
            select(GroupChat).where(GroupChat.telegram_chat_id == group["id"])
        )
    assert registered is not None and registered.organization_id == world.org["district"]

    campaign = await world.campaign(targets=("district",), mode="group")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], campaign)
    card = await _card(telegram, group["id"])
    assert "Đoàn viên" not in card["text"]  # counts, never names
    assert "Đã nhận: 0 · Đã làm xong: 0 · Không thực hiện được: 0" in card["text"]
    assert (await d1.press(card, "done"))["text"] == "Đã ghi nhận: Đã làm xong"
    assert (await d2.press(card, "ack"))["text"] == "Đã ghi nhận: Đã nhận"
    refusal = await outsider.press(card, "done")
    assert refusal["show_alert"] in (True, "true") and "Chỉ thành viên" in refusal["text"]
    await _edited(telegram, card, "Đã nhận: 1 · Đã làm xong: 1 · Không thực hiện được: 0")
    async with world.db.read() as session:
        reporters = (await session.scalars(select(Report.member_id))).all()
    assert sorted(reporters) == sorted([world.member["d1"], world.member["d2"]])


async def test_it_waits_out_a_429_and_marks_who_blocked_the_bot(world, telegram, worker):
    """One launch to four members: the first two sends get a 429, and one member blocked the
    bot. Each of the others gets exactly one card; the one who blocked it becomes unreachable."""
    people = {k: await _linked(world, telegram, k) for k in ("d1", "d2", "d3", "c1")}
    telegram.shim.blocked.add(people["d2"].id)
    telegram.shim.too_many, telegram.shim.retry_after = 2, 2
    campaign = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], campaign)
    for key in ("d1", "d3", "c1"):
        card = await _card(telegram, people[key].id)
        delivered = await eventually(lambda key=key: _delivered(world, key, campaign))
        assert delivered.telegram_message_id == card["message_id"]
        cards = [m for m in await telegram.messages(people[key].id) if TITLE in m["text"]]
        assert len(cards) == 1, "a 429 must not lead to a second copy"
    sends = telegram.shim.made("sendMessage")
    refused = [c for c in sends if c.status == 429]
    assert len(refused) == 2
    for refusal in refused:  # Telegram: nothing more to that chat until retry_after has passed
        later = [
            c.at - refusal.at
            for c in sends
            if c.params["chat_id"] == refusal.params["chat_id"] and c.at > refusal.at
        ]
        assert later and min(later) >= 2 - 0.05

    async def unreachable() -> Member | None:
        member = await _member(world, "d2")
        return member if member.unreachable_at is not None else None

    await eventually(unreachable)
    assert await telegram.messages(people["d2"].id) == []
    assert (await _assignment(world, "d2", campaign)).status != "delivered"
    blocked = people["d2"].id
    tries = [c for c in telegram.shim.made("sendMessage") if int(c.params["chat_id"]) == blocked]
    assert [c.status for c in tries] == [403], "a blocked user is not tried again"


async def test_it_stops_cleanly_on_sigterm_and_confirms_its_updates(world, telegram, worker):
    stranger = telegram.person(8_100_009, "Lạ")
    await stranger.say("/start")
    await eventually(lambda: telegram.last_said(stranger.id, "mở liên kết mời"))
    polls_before = len(telegram.shim.made("getUpdates"))
    assert await worker.stop(signal.SIGTERM) == 0
    log = worker.log.read_text()
    # The bot's own shutdown, in order: no "Application is still running", no open sessions.
    assert "Application is still running" not in log and "Unclosed" not in log, log
    # The last poll confirms what was handled, so Telegram does not send it again on restart.
    last = telegram.shim.made("getUpdates")[polls_before:][-1]
    assert last.params.get("timeout") == "0"
    assert last.params.get("offset") == str(max(telegram.shim.delivered) + 1)
