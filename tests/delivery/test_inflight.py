"""Only what was really in flight can be uncertain, and uncertain is never lost: a crash or a
read timeout sends an assignment once more as a marked copy, either copy's buttons count once,
and whatever stays uncertain or failed is shown to admins with a Retry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select, update
from telegram import Bot

from coordinator.app import create_app
from coordinator.auth.models import AuditEvent
from coordinator.bots import runtime
from coordinator.bots.aiohttp_request import AiohttpRequest
from coordinator.bots.sender import Sender
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.delivery import store
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import Member
from coordinator.sandbox.run import free_port, running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import read_settings
from tests.bots.test_bot import Phone, eventually
from tests.delivery.test_delivery import (
    TOKEN,
    TZ,
    add_volunteers,
    bot_messages,
    drain,
    link_members,
    rows,
)
from tests.faults.harness import sender_concurrency
from tests.web.test_web_authorization import sign_in

COPY_VI = "bản gửi lại"


@pytest.fixture
async def sandbox():
    async with running_sandbox(World(TOKEN)) as running:
        yield running


def impatient_bot(sandbox, read_timeout: float) -> Bot:
    """A bot whose client gives up on an answer after `read_timeout` seconds."""
    request = AiohttpRequest(connection_pool_size=64, read_timeout=read_timeout)
    return Bot(TOKEN, base_url=sandbox.base_url, request=request)


async def statuses(db) -> dict[str, int]:
    async with db.read() as session:
        counted = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
        )
        return dict(counted.all())


async def test_a_sender_killed_mid_batch_leaves_only_its_in_flight_rows_uncertain(world, sandbox):
    await link_members(world, sandbox)
    people = await add_volunteers(world, sandbox, "commune", 300)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with impatient_bot(sandbox, 30) as doomed_bot:
        sandbox.world.delay = 60  # Telegram holds every request: the sender dies waiting
        doomed = Sender(
            world.db,
            doomed_bot,
            rate=10_000,
            timezone=TZ,
            concurrency=8,
            batch=500,
            lease_for=timedelta(seconds=1),
        )
        task = asyncio.create_task(doomed.run_once())
        await eventually(lambda: asyncio.sleep(0, sandbox.world.held == 8))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    sandbox.world.delay = 0  # the 8 held requests are delivered after all
    counts = await statuses(world.db)
    assert counts == {"sending": 8, "pending": 301 - 8}, "only the 8 in flight were leased"
    async with impatient_bot(sandbox, 15) as bot:
        await eventually(lambda: store.reap(world.db))
        assert await statuses(world.db) == {"pending": 301}
        await drain(Sender(world.db, bot, rate=10_000, timezone=TZ), world.db, 60)
    received = [bot_messages(sandbox, p.id) for p in people]
    assert all(received), "nobody lost"
    twice = [m for m in received if len(m) == 2]
    assert len(twice) <= 8
    assert all(COPY_VI in m[1].text and COPY_VI not in m[0].text for m in twice)
    resent = [r for r in await rows(world.db) if r.payload.get("resent")]
    assert len(resent) == 8 and {r.status for r in resent} == {"sent"}


async def test_a_read_timeout_after_sending_is_resent_once_as_a_copy(world, sandbox):
    ids = await link_members(world, sandbox)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with impatient_bot(sandbox, 0.5) as bot:
        sandbox.world.delay = 1.5  # answers later than the client waits, but does send
        sender = Sender(world.db, bot, rate=1000, timezone=TZ)
        assert await sender.run_once() == 1
        [row] = await rows(world.db)
        assert row.status == "pending" and row.payload == {"resent": True}
        assert row.error.startswith("timed out after sending")
        await eventually(lambda: asyncio.sleep(0, len(bot_messages(sandbox, ids["c1"])) == 1))
        sandbox.world.delay = 0
        async with world.db.write() as session:  # skip the pause before the copy
            await session.execute(update(OutboxMessage).values(next_attempt_at=row.created_at))
        await drain(sender, world.db)
    first, copy = bot_messages(sandbox, ids["c1"])
    assert COPY_VI not in first.text and COPY_VI in copy.text
    [row] = await rows(world.db)
    assert row.status == "sent" and row.attempts == 2 and row.telegram_message_id == copy.message_id
    async with world.db.read() as session:
        task = await session.scalar(select(Assignment))
    assert task.status == "delivered" and task.telegram_message_id == copy.message_id


async def test_a_second_timeout_is_uncertain_for_good_and_listed_not_resent(world, sandbox):
    await link_members(world, sandbox)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with impatient_bot(sandbox, 0.5) as bot:
        sandbox.world.delay = 1.5
        sender = Sender(world.db, bot, rate=1000, timezone=TZ)
        for _ in range(2):
            async with world.db.write() as session:
                await session.execute(update(OutboxMessage).values(next_attempt_at=func.now()))
            await sender.run_once()
    [row] = await rows(world.db)
    assert row.status == "uncertain" and "not resent blindly" in row.error


async def test_either_copy_counts_once_and_the_older_points_at_the_newer(world, sandbox):
    """Two cards for one task (a resend): presses on both count once; the older card loses its
    buttons and says where the task went."""
    ids = await link_members(world, sandbox)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with impatient_bot(sandbox, 15) as bot:
        sender = Sender(world.db, bot, rate=1000, timezone=TZ)
        await drain(sender, world.db)
        # The first answer was lost (as after a crash): the row is resent once, as a copy.
        async with world.db.write() as session:
            await session.execute(
                update(OutboxMessage).values(status="sending", lease_until=func.now())
            )
        await eventually(lambda: store.reap(world.db))
        await drain(sender, world.db)
    phone = Phone(sandbox, ids["c1"])
    old, new = [m for m in await phone.chat() if m["from"]["is_bot"]]
    assert COPY_VI in new["text"] and COPY_VI not in old["text"]
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
    async with runtime.running(runtime.build(world.db, settings, TOKEN, sandbox.base_url)):
        assert "Đã nhận" in (await phone.press(old, "ack"))["text"]
        await phone.press(new, "ack")  # the same step on the other copy: nothing new

        async def old_points_at_new():
            [message] = [m for m in await phone.chat() if m["message_id"] == old["message_id"]]
            return "reply_markup" not in message and "thay thế" in message["text"]

        await eventually(old_points_at_new)
        await phone.press(new, "done")
    async with world.db.read() as session:
        reports = (await session.scalars(select(Report.action).order_by(Report.id))).all()
    assert reports == ["acknowledged", "done"]
    [current] = [m for m in await phone.chat() if m["message_id"] == new["message_id"]]
    assert "Đã làm xong" in current["text"]


async def _failed_row(world) -> int:
    async with world.db.write() as session:
        row = OutboxMessage(
            dedupe_key="text:dead",
            chat_id=4242,
            kind="text",
            payload={"text": "Xin chào"},
            status="failed",
            attempts=8,
            error="NetworkError: https://api.telegram.org/bot1234567:ABCDEFGHIJKLMNOPQRSTUVWXYZ12/x",
        )
        session.add(row)
        await session.flush()
        return row.id or 0


def _app(world):
    return create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))


async def test_the_outbox_page_lists_a_dead_letter_and_retry_requeues_it_once(world):
    row_id = await _failed_row(world)
    async with AsyncTestClient(app=_app(world)) as client:
        await sign_in(client, "admin")
        listed = await client.get("/outbox")
        assert listed.status_code == 200
        assert f"/outbox/{row_id}/retry" in listed.text and "ABCDEFGHIJ" not in listed.text
        forged = await client.post(f"/outbox/{row_id}/retry", follow_redirects=False)
        assert forged.status_code == 403
        csrf = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        done = await client.post(f"/outbox/{row_id}/retry", headers=csrf, follow_redirects=False)
        assert done.status_code == 303
        again = await client.post(f"/outbox/{row_id}/retry", headers=csrf, follow_redirects=False)
        assert again.status_code == 409
    [row] = await rows(world.db)
    assert row.status == "pending" and row.attempts == 0 and row.payload["retried"] is True
    async with world.db.read() as session:
        events = (await session.scalars(select(AuditEvent.action))).all()
    assert events.count("outbox.retry") == 1


async def test_only_admins_see_the_outbox_or_retry(world):
    row_id = await _failed_row(world)
    async with AsyncTestClient(app=_app(world)) as client:
        await sign_in(client, "coordinator")
        assert (await client.get("/outbox", follow_redirects=False)).status_code == 403
        csrf = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        refused = await client.post(f"/outbox/{row_id}/retry", headers=csrf)
        assert refused.status_code == 403
        assert "/outbox" not in (await client.get("/")).text
    [row] = await rows(world.db)
    assert row.status == "failed"


async def test_the_api_counts_the_outbox_by_status_and_kind(world, api):
    await _failed_row(world)
    async with world.db.write() as session:
        session.add(
            OutboxMessage(
                dedupe_key="edit:x",
                chat_id=-5,
                kind="edit",
                status="cancelled",
                payload={"resent": True},
            )
        )
        session.add(
            OutboxMessage(
                dedupe_key="a:x",
                chat_id=7,
                kind="text",
                status="uncertain",
                payload={"resent": True},
            )
        )
    summary = await api.get("/api/v1/outbox/summary", headers=api.as_("admin"))
    assert summary.status_code == 200, summary.text
    assert summary.json() == {
        "by_status": {"failed": 1, "cancelled": 1, "uncertain": 1},
        "by_kind": {"text": {"failed": 1, "uncertain": 1}, "edit": {"cancelled": 1}},
        "resent": 2,
        "uncertain": 1,
        "dead_letter": 1,
        "dropped_edits": 1,
        "waiting": 0,
    }
    denied = await api.get("/api/v1/outbox/summary", headers=api.as_("lead"))
    assert denied.status_code == 403


# -- a real worker process, killed twice mid-delivery -------------------------------------


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "coordinator", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _sent(telegram: httpx.AsyncClient) -> int:
    return int((await telegram.get("/sandbox/stats")).json()["result"]["sent"])


async def _kill_after(worker: subprocess.Popen[bytes], telegram, sent: int) -> None:
    async def far_enough() -> bool:
        assert worker.poll() is None, "the worker exited by itself"
        return await _sent(telegram) >= sent

    await eventually(far_enough, 60)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)


async def test_a_worker_killed_twice_mid_delivery_loses_nothing(world):
    """SIGKILL, restart, SIGKILL again, restart: every volunteer gets the task, at most the
    rows in flight at each kill get a second card, and each second card says it is a copy."""
    port = free_port()
    sandbox = _start(["sandbox", "--port", str(port), "--token", TOKEN], dict(os.environ))
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": world.db.url,
        "COORDINATOR_TELEGRAM_TOKEN": TOKEN,
        "COORDINATOR_TELEGRAM_API_URL": f"http://127.0.0.1:{port}/bot",
        "COORDINATOR_SEND_RATE": "100",
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as telegram:
            await eventually(lambda: _up(telegram), 20)
            people = [
                (await telegram.post("/sandbox/users", json={"first_name": f"v{n}"})).json()[
                    "result"
                ]["id"]
                for n in range(400)
            ]
            await _volunteers(world, people)
            cid = await world.campaign(targets=("commune",))
            await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
            leased_at_kill = []
            for sent in (60, 200):
                await _kill_after(_start(["worker"], env), telegram, sent)
                # A newly elected sender takes over its predecessor's leases before it sends,
                # so what is `sending` now is the killed worker's own.
                leased_at_kill.append((await statuses(world.db)).get("sending", 0))
            assert all(n <= sender_concurrency() for n in leased_at_kill), leased_at_kill
            print("leased at each kill:", leased_at_kill)
            last = _start(["worker"], env)
            try:

                async def drained() -> bool:
                    counts = await statuses(world.db)
                    return not counts.get("pending") and not counts.get("sending")

                await eventually(drained, 90)
            finally:
                last.terminate()
                last.wait(10)
            chats = [
                [
                    m["text"]
                    for m in (await telegram.get(f"/sandbox/chats/{p}/messages")).json()["result"]
                    if m["from"]["is_bot"]
                ]
                for p in people
            ]
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    assert all(chats), "nobody lost"
    twice = [texts for texts in chats if len(texts) > 1]
    assert all(len(texts) == 2 and COPY_VI in texts[1] for texts in twice)
    assert len(twice) <= sum(leased_at_kill)
    counts = await statuses(world.db)
    assert counts == {"sent": len(people)}, counts
    resent = [r for r in await rows(world.db) if r.payload.get("resent")]
    assert len(resent) == sum(leased_at_kill)


async def _up(telegram: httpx.AsyncClient) -> bool:
    try:
        return (await telegram.get(f"/bot{TOKEN}/getMe")).status_code == 200
    except httpx.HTTPError:
        return False


async def _volunteers(world, telegram_ids: list[int]) -> None:
    """Members of the commune with these Telegram accounts; the world's own ones opt out."""
    async with world.db.write() as session:
        await session.execute(update(Member).values(opted_out_at=func.now()))
        session.add_all(
            Member(
                organization_id=world.org["commune"],
                display_name=f"v{n}",
                telegram_user_id=telegram_id,
                locale="vi",
            )
            for n, telegram_id in enumerate(telegram_ids)
        )
