"""Task cards queued a chunk at a time: a launch queues the first, the senders' leases the rest."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, insert, text
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots.settle import SETTLE
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.delivery import backlog, review, store
from coordinator.delivery.models import DEFAULT_BOT, BotChat, CardBacklog, OutboxMessage
from coordinator.delivery.store import Outcome
from coordinator.health import outbox_health
from coordinator.organizations.models import GroupChat, Member

CHUNK = 3


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(backlog, "CARD_CHUNK", CHUNK)


async def add_volunteers(world, org: str, count: int, first_chat: int = 9_000_000) -> list[int]:
    """`count` more linked members of `org`; returns their chat ids."""
    chats = [first_chat + n for n in range(count)]
    async with world.db.write() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": world.org[org],
                    "display_name": f"v{chat}",
                    "telegram_user_id": chat,
                    "locale": "vi",
                    "created_at": utcnow(),
                }
                for chat in chats
            ],
        )
    return chats


async def launched(world, targets=("district",), mode="dm") -> tuple[int, list[int]]:
    """A campaign launched now, and its task ids in id order."""
    cid = await world.campaign(targets=targets, mode=mode)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    return cid, await task_ids(world.db, cid)


async def task_ids(db, cid: int) -> list[int]:
    async with db.read() as session:
        found = await session.scalars(
            select(Assignment.id).where(Assignment.campaign_id == cid).order_by(col(Assignment.id))
        )
        return list(found.all())


async def carded(db) -> list[int]:
    """Tasks with a card in the outbox (in any status), in card order."""
    async with db.read() as session:
        found = await session.scalars(
            select(OutboxMessage.assignment_id)
            .where(OutboxMessage.kind == "assignment")
            .order_by(col(OutboxMessage.id))
        )
        return list(found.all())


async def backlogs(db) -> list[CardBacklog]:
    async with db.read() as session:
        return list((await session.scalars(select(CardBacklog))).all())


async def send_all(
    db, bot: int = DEFAULT_BOT, limit: int = 2, ahead: int | None = CHUNK
) -> list[int]:
    """Lease and record as sent until this bot's lease comes back empty: the sender's loop
    without Telegram. Returns the tasks in the order their cards were leased; checks that the
    outbox never holds more than `ahead` unsent cards beyond a lease (one bot: a chunk per
    launch; with several bots, one bot's top-ups queue the others' cards too)."""
    order: list[int] = []
    for _ in range(1_000):
        async with db.read() as session:
            unsent = await session.scalar(
                select(func.count()).where(col(OutboxMessage.status) == "pending")
            )
        assert ahead is None or unsent <= ahead + limit, "a chunk at a time, not the backlog"
        rows = await store.lease(db, limit, bot=bot)
        if not rows:
            return order
        order += [r.assignment_id for r in rows if r.assignment_id is not None]
        await store.record(db, [Outcome(r, "sent", message_id=r.id) for r in rows], SETTLE)
    raise AssertionError("the lease never came back empty")


async def test_a_launch_beyond_a_chunk_queues_its_first_chunk_and_leaves_the_rest(world):
    await add_volunteers(world, "district", 7)
    cid, tasks = await launched(world)
    assert len(tasks) == 11  # d1, d2, d3, c1 and the seven
    assert await carded(world.db) == tasks[:CHUNK]
    [left] = await backlogs(world.db)
    assert (left.campaign_id, left.after_id, left.last_id) == (cid, tasks[CHUNK - 1], tasks[-1])
    async with world.db.read() as session:
        assert (await backlog.waiting(session))[0] == tasks[-1] - tasks[CHUNK - 1]
    health = await outbox_health(world.db, utcnow())
    assert health["waiting"] == len(tasks) - CHUNK
    assert (await review.summary(world.db, world.actor["admin"])).waiting == len(tasks) - CHUNK


async def test_a_small_launch_queues_every_card_and_no_backlog(world):
    _, tasks = await launched(world)
    assert len(tasks) <= CHUNK + 1
    if len(tasks) <= CHUNK:
        assert await carded(world.db) == tasks and await backlogs(world.db) == []


async def test_the_sender_delivers_every_card_once_in_id_order_chunk_by_chunk(world):
    await add_volunteers(world, "district", 10)
    _, tasks = await launched(world)
    assert await send_all(world.db) == tasks
    assert sorted(await carded(world.db)) == tasks
    assert await backlogs(world.db) == []
    async with world.db.read() as session:
        statuses = set((await session.scalars(select(Assignment.status))).all())
    assert statuses == {"delivered"}


async def test_group_mode_cards_are_queued_chunk_by_chunk_too(world):
    async with world.db.write() as session:
        for n in range(5):
            session.add(
                GroupChat(
                    telegram_chat_id=-100 - n, title=f"g{n}", organization_id=world.org["district"]
                )
            )
    _, tasks = await launched(world, mode="group")
    assert len(tasks) == 5 and await carded(world.db) == tasks[:CHUNK]
    assert await send_all(world.db) == tasks


async def test_a_second_launch_adds_its_cards_behind_the_first(world):
    await add_volunteers(world, "district", 5)
    cid, first = await launched(world)
    await add_volunteers(world, "district", 5, first_chat=9_100_000)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    tasks = await task_ids(world.db, cid)
    assert len(tasks) == len(first) + 5
    assert len(await backlogs(world.db)) == 2  # each launch queued its own first chunk
    sent = await send_all(world.db, ahead=2 * CHUNK)
    assert sorted(sent) == tasks and len(sent) == len(set(sent))


async def test_two_bots_topping_up_at_once_skip_and_repeat_nothing(world):
    """Every third volunteer talks to bot 2; both bots' senders lease at once (interleaved by
    the event loop, serialized by SQLite's write lock or skipping PostgreSQL's row lock)."""
    chats = await add_volunteers(world, "district", 24)
    async with world.db.write() as session:
        session.add_all([BotChat(chat_id=c, bot_id=2) for c in chats[::3]])
    _, tasks = await launched(world)
    one, two = await asyncio.gather(
        send_all(world.db, DEFAULT_BOT, ahead=None), send_all(world.db, 2, ahead=None)
    )
    for _ in range(2):  # a bot may have found nothing while the other held the last chunk
        one += await send_all(world.db, DEFAULT_BOT, ahead=None)
        two += await send_all(world.db, 2, ahead=None)
    assert sorted(one + two) == tasks, "every card once, none skipped"
    async with world.db.read() as session:
        theirs = set(
            (
                await session.scalars(
                    select(Assignment.id)
                    .join(Member, col(Member.id) == Assignment.member_id)
                    .where(col(Member.telegram_user_id).in_(chats[::3]))
                )
            ).all()
        )
    assert set(two) == theirs
    assert await backlogs(world.db) == []


async def test_a_sender_skips_a_chunk_another_is_queueing(world, db):
    if db.dialect == "sqlite":
        pytest.skip("SQLite serializes the two leases with its write lock")
    await add_volunteers(world, "district", 10)
    _, tasks = await launched(world)
    async with world.db.write() as first:
        assert await backlog.top_up(first) == CHUNK
        async with world.db.write() as second:
            assert await backlog.top_up(second) == 0  # skipped, not waited for
    assert await backlog_cursor(world.db) == tasks[2 * CHUNK - 1]
    async with world.db.write() as again:
        assert await backlog.top_up(again) == CHUNK
    assert await carded(world.db) == tasks[: 3 * CHUNK]


async def backlog_cursor(db) -> int:
    [row] = await backlogs(db)
    return row.after_id


async def test_cancelling_drops_the_backlog(world):
    await add_volunteers(world, "district", 10)
    cid, tasks = await launched(world)
    await campaigns.cancel_campaign(world.db, world.actor["coordinator"], cid)
    assert await backlogs(world.db) == []
    assert await send_all(world.db) == []
    assert await carded(world.db) == tasks[:CHUNK]
    async with world.db.read() as session:
        statuses = set((await session.scalars(select(OutboxMessage.status))).all())
    assert statuses == {"cancelled"}


async def test_a_close_waits_for_a_top_up_and_withdraws_its_cards(world, db):
    if db.dialect == "sqlite":
        pytest.skip("SQLite's write lock keeps the close out of the top-up altogether")
    await add_volunteers(world, "district", 10)
    cid, _ = await launched(world)
    async with world.db.write() as topping:
        assert await backlog.top_up(topping) == CHUNK
        closing = asyncio.create_task(
            campaigns.close_campaign(world.db, world.actor["coordinator"], cid)
        )
        await wait_for_a_lock(world.db)
    await closing
    async with world.db.read() as session:
        pending = await session.scalar(
            select(func.count()).where(col(OutboxMessage.status) == "pending")
        )
    assert pending == 0 and await backlogs(world.db) == []


async def wait_for_a_lock(db, seconds: float = 10.0) -> None:
    """Until some backend of this database waits for a row lock."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with db.read() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waited for the top-up's lock")


async def test_a_top_up_that_fails_leaves_cursor_and_cards_as_they_were(world):
    await add_volunteers(world, "district", 10)
    _, tasks = await launched(world)
    before = await backlog_cursor(world.db)
    with pytest.raises(RuntimeError):
        async with world.db.write() as session:
            assert await backlog.top_up(session) == CHUNK
            raise RuntimeError("the sender died before its commit")
    assert await backlog_cursor(world.db) == before
    assert await carded(world.db) == tasks[:CHUNK]
    assert await send_all(world.db) == tasks


async def test_a_launch_that_fails_leaves_no_backlog(world, monkeypatch):
    await add_volunteers(world, "district", 10)
    cid = await world.campaign(targets=("district",))

    def failing(*_args, **_kwargs):
        raise RuntimeError("the launch died before its commit")

    monkeypatch.setattr("coordinator.campaigns.lifecycle.audit", failing)
    with pytest.raises(RuntimeError):
        await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert await backlogs(world.db) == [] and await carded(world.db) == []
    assert await task_ids(world.db, cid) == []


async def test_the_real_sender_sends_each_volunteer_one_card(world):
    from coordinator.bots.telegram_client import make_bot
    from coordinator.sandbox.run import running_sandbox
    from coordinator.sandbox.state import World as Sandbox
    from tests.delivery.test_delivery import TOKEN, bot_messages, drain, sender_for
    from tests.factories import BOT_USERNAME

    async with running_sandbox(Sandbox(TOKEN, username=BOT_USERNAME)) as sandbox:
        people = [sandbox.world.add_person(f"v{n}", None, "vi") for n in range(8)]
        async with world.db.write() as session:
            await session.execute(
                insert(Member),
                [
                    {
                        "organization_id": world.org["commune"],
                        "display_name": p.first_name,
                        "telegram_user_id": p.id,
                        "locale": "vi",
                        "created_at": utcnow(),
                    }
                    for p in people
                ],
            )
        _, tasks = await launched(world, targets=("commune",))
        assert len(await carded(world.db)) == CHUNK < len(tasks)
        async with make_bot(TOKEN, sandbox.base_url) as bot:
            await drain(sender_for(world, bot), world.db)
        assert all(len(bot_messages(sandbox, p.id)) == 1 for p in people)
        assert sorted(await carded(world.db)) == tasks and await backlogs(world.db) == []
