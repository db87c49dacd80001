"""The outbox sender against the Bot API sandbox over loopback HTTP: delivery and its faults."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlmodel import col, select, update
from telegram.error import BadRequest

from coordinator.base import utcnow
from coordinator.bots.sender import Sender
from coordinator.bots.telegram_client import make_bot
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.delivery import store
from coordinator.delivery.models import OutboxMessage
from coordinator.delivery.store import Leased
from coordinator.organizations.models import GroupChat, Member
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import World
from tests.factories import BOT_USERNAME

TOKEN = "1000:sandbox"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def sandbox():
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as running:
        yield running


@pytest.fixture
async def bot(sandbox):
    async with make_bot(TOKEN, sandbox.base_url) as bot:
        yield bot


async def link_members(world, sandbox) -> dict[str, int]:
    """Give every linked member a real sandbox account; returns member key -> Telegram id."""
    ids = {}
    async with world.db.write() as session:
        for key, member_id in world.member.items():
            member = await session.get(Member, member_id)
            if member.telegram_user_id is not None:
                person = sandbox.world.add_person(member.display_name, None, member.locale)
                member.telegram_user_id = person.id
                ids[key] = person.id
    return ids


async def add_volunteers(world, sandbox, org: str, count: int) -> list:
    """`count` more linked members of `org`, each with a sandbox account."""
    people = [sandbox.world.add_person(f"v{n}", None, "vi") for n in range(count)]
    async with world.db.write() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": world.org[org],
                    "display_name": p.first_name,
                    "telegram_user_id": p.id,
                    "locale": "vi",
                    "created_at": utcnow(),
                }
                for p in people
            ],
        )
    return people


async def drain(sender: Sender, db, seconds: float = 20.0) -> None:
    """Run the sender until nothing is pending or sending, polling with a deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await sender.run_once():
            async with db.read() as session:
                open_rows = await session.scalar(
                    select(OutboxMessage.id)
                    .where(col(OutboxMessage.status).in_(["pending", "sending"]))
                    .limit(1)
                )
            if open_rows is None:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not drain before the deadline")


async def rows(db) -> list[OutboxMessage]:
    async with db.read() as session:
        return list(
            (await session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        )


def bot_messages(sandbox, chat_id: int) -> list:
    return [
        m
        for m in sandbox.world.messages.get(chat_id, {}).values()
        if m.from_id == sandbox.world.bot.id and not m.deleted
    ]


def sender_for(world, bot, rate: float = 1000.0) -> Sender:
    return Sender(world.db, bot, rate=rate, timezone=TZ)


async def test_it_delivers_each_assignment_once_with_its_buttons(world, sandbox, bot):
    ids = await link_members(world, sandbox)
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    await drain(sender_for(world, bot), world.db)
    for key in ("d1", "d2", "d3", "c1"):
        [message] = bot_messages(sandbox, ids[key])
        assert "Cảnh giác lừa đảo trực tuyến" in message.text
        assert "Hạn chót" in message.text
        buttons = message.reply_markup["inline_keyboard"][0]
        assert [b["callback_data"].rsplit(":", 1)[1] for b in buttons] == ["ack", "done", "no"]
    assert {r.status for r in await rows(world.db)} == {"sent"}
    async with world.db.read() as session:
        assignments = (await session.scalars(select(Assignment))).all()
    assert {a.status for a in assignments} == {"delivered"}
    assert all(a.telegram_message_id for a in assignments)


async def test_it_rides_out_a_429_storm_without_counting_failures(world, sandbox, bot):
    """With Telegram's limits on and a sender told to go too fast, 429s slow it, nothing fails."""
    ids = await link_members(world, sandbox)
    extra = await add_volunteers(world, sandbox, "district", 45)
    sandbox.world.limits.enabled = True
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    await drain(sender_for(world, bot, rate=1000.0), world.db, seconds=30)
    assert sandbox.world.limits.refused > 0
    outbox_rows = await rows(world.db)
    assert {r.status for r in outbox_rows} == {"sent"}
    assert all(r.attempts == 1 for r in outbox_rows), "a 429 is not an attempt"
    assert all(len(bot_messages(sandbox, p.id)) == 1 for p in extra)
    assert len(bot_messages(sandbox, ids["d1"])) == 1


async def test_it_keeps_to_the_limits_itself_at_the_default_rate(world, sandbox, bot):
    await link_members(world, sandbox)
    sandbox.world.limits.enabled = True
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    await drain(sender_for(world, bot, rate=25.0), world.db)
    assert sandbox.world.limits.refused == 0


async def test_it_marks_a_blocked_member_unreachable_and_carries_on(world, sandbox, bot):
    ids = await link_members(world, sandbox)
    sandbox.world.people[ids["d2"]].blocked_bot = True
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    await drain(sender_for(world, bot), world.db)
    async with world.db.read() as session:
        blocked = await session.get(Member, world.member["d2"])
        others = await session.get(Member, world.member["d1"])
    assert blocked.unreachable_at is not None and others.unreachable_at is None
    statuses = {r.chat_id: (r.status, r.error) for r in await rows(world.db)}
    assert statuses[ids["d2"]] == ("failed", "Forbidden: bot was blocked by the user")
    assert all(s == "sent" for chat, (s, _) in statuses.items() if chat != ids["d2"])


async def test_it_does_not_disable_anyone_on_an_unknown_refusal(world, sandbox, bot):

    s = Sender(world.db, bot, rate=100, timezone=TZ)
    row = Leased(1, "text", 42, None, {}, 1)
    outcome = s._classify(row, BadRequest("Bad Request: something new and strange"))
    assert outcome.status == "failed" and not outcome.unreachable
    blocked = s._classify(row, BadRequest("Bad Request: chat not found"))
    assert blocked.unreachable


async def test_it_follows_a_group_to_its_supergroup_and_sends_once(world, sandbox, bot):
    ids = await link_members(world, sandbox)
    group = sandbox.world.add_group("Chi đoàn", [ids["d1"]])
    async with world.db.write() as session:
        session.add(
            GroupChat(
                telegram_chat_id=group.id, title="Chi đoàn", organization_id=world.org["district"]
            )
        )
    cid = await world.campaign(targets=("district",), mode="group")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    from coordinator.sandbox import people

    new_id = await people.migrate_group(sandbox.world, group.id)
    await drain(sender_for(world, bot), world.db)
    async with world.db.read() as session:
        stored = await session.scalar(select(GroupChat.telegram_chat_id))
    assert stored == new_id
    assert len(bot_messages(sandbox, new_id)) == 1
    assert bot_messages(sandbox, group.id) == []
    [row] = await rows(world.db)
    assert row.status == "sent" and row.chat_id == new_id and row.payload["migrated"] is True


async def test_it_resends_once_flagged_after_a_sender_dies_mid_send(world, sandbox, bot):
    ids = await link_members(world, sandbox)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    doomed_bot = make_bot(TOKEN, sandbox.base_url)
    await doomed_bot.initialize()
    sandbox.world.delay = 30  # Telegram hangs; the sender is killed while waiting
    doomed = Sender(world.db, doomed_bot, rate=1000, timezone=TZ, lease_for=timedelta(seconds=3))
    task = asyncio.create_task(doomed.run_once())

    async def in_flight() -> bool:
        statuses = {r.status for r in await rows(world.db)}
        return statuses == {"sending"} and sandbox.world.held == 1

    deadline = time.monotonic() + 5
    while not await in_flight():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await doomed_bot.shutdown()
    sandbox.world.delay = 0
    assert await store.reap(world.db) == 0  # the lease has not expired yet
    deadline = time.monotonic() + 10
    while not await store.reap(world.db):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    [row] = await rows(world.db)
    assert row.status == "pending" and row.payload == {"resent": True}
    await drain(sender_for(world, bot), world.db)
    # Telegram did get the first request (it was only slow to answer), so the volunteer sees it
    # twice: the price of never losing a task. Exactly one resend, and the row says so.
    assert len(bot_messages(sandbox, ids["c1"])) == 2
    [row] = await rows(world.db)
    assert row.status == "sent" and row.payload == {"resent": True} and row.attempts == 2
    # A second lease that also dies stays uncertain: no endless resending.
    async with world.db.write() as session:
        await session.execute(update(OutboxMessage).values(status="sending", lease_until=utcnow()))
    assert await store.reap(world.db) == 1
    [row] = await rows(world.db)
    assert row.status == "uncertain"


async def test_it_sends_each_message_exactly_once_with_two_senders(world, sandbox, bot):
    await link_members(world, sandbox)
    people = await add_volunteers(world, sandbox, "commune", 1000)
    cid = await world.campaign(targets=("commune",))
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert result.created == 1001  # c1 as well
    a, b = sender_for(world, bot), sender_for(world, bot)
    a.batch = b.batch = 50
    await asyncio.gather(drain(a, world.db, 60), drain(b, world.db, 60))
    assert all(len(bot_messages(sandbox, p.id)) == 1 for p in people)
    assert sandbox.world.sent == 1001
    assert {r.status for r in await rows(world.db)} == {"sent"}


async def test_it_delivers_everything_after_telegram_comes_back(world, bot, sandbox):
    """The sandbox goes away for a while; transient errors back off and then get through."""
    ids = await link_members(world, sandbox)
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    state = sandbox.world
    async with running_sandbox(state) as first:
        port = first.port
        sender = sender_for(world, make_bot(TOKEN, first.base_url))
        await sender.bot.initialize()
    # Telegram is down now: nothing listens on the port.
    await sender.run_once()
    outbox_rows = await rows(world.db)
    assert {r.status for r in outbox_rows} == {"pending"}
    assert all(r.next_attempt_at > utcnow() for r in outbox_rows), "backing off"
    assert all(r.error.startswith("aiohttp.ClientConnectorError") for r in outbox_rows)
    async with world.db.write() as session:  # skip the backoff wait in this test
        await session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    async with running_sandbox(state, port=port):
        await drain(sender, world.db)
    await sender.bot.shutdown()
    assert all(len(bot_messages(sandbox, ids[k])) == 1 for k in ("d1", "d2", "d3", "c1"))
