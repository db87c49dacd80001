"""Telegram's budget kept by the sender against the sandbox's limits over loopback HTTP: the
default rate, a chat's 429 against a deployment-wide one, paid broadcasts and their cost, the
one elected sender, and what the launch confirmation promises."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

from litestar.testing import AsyncTestClient
from sqlmodel import col, update

from coordinator.app import create_app
from coordinator.base import utcnow
from coordinator.bots.pacing import delivery_estimate, sustained_rate
from coordinator.bots.sender import Sender
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Campaign
from coordinator.db import Database
from coordinator.leader import Leader
from coordinator.settings import DEFAULT_SEND_RATE, read_settings
from tests.delivery.test_delivery import (
    TZ,
    add_volunteers,
    bot,  # noqa: F401  (the fixture)
    bot_messages,
    drain,
    link_members,
    rows,
    sandbox,  # noqa: F401  (the fixture)
)
from tests.web.test_web_authorization import sign_in


async def launch(world, paid: bool = False) -> int:
    cid = await world.campaign(targets=("district",))
    if paid:
        async with world.db.write() as session:
            await session.execute(
                update(Campaign).where(col(Campaign.id) == cid).values(paid_broadcast=True)
            )
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    return cid


async def test_it_reaches_telegrams_rate_at_the_default_setting_without_a_429(
    world,
    sandbox,  # noqa: F811
    bot,  # noqa: F811
):
    await link_members(world, sandbox)
    await add_volunteers(world, sandbox, "district", 150)
    sandbox.world.limits.enabled = True
    await launch(world)
    started = time.perf_counter()
    await drain(Sender(world.db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ), world.db, 60)
    rate = sandbox.world.sent / (time.perf_counter() - started)
    assert sandbox.world.limits.refused == 0
    assert sandbox.world.sent == 154  # d1, d2, d3, c1 and the 150
    # The bench holds the >= 0.95 line over 3,000 messages with the sandbox in a process of
    # its own; here it shares this event loop (and a busy machine), which slows its answers.
    assert rate >= 0.8 * 30, rate


async def test_a_chats_own_429_delays_that_chat_and_no_other(
    world,
    sandbox,  # noqa: F811
    bot,  # noqa: F811
):
    ids = await link_members(world, sandbox)
    extra = await add_volunteers(world, sandbox, "district", 20)
    sandbox.world.limits.enabled = True
    busy = ids["d1"]
    for n in range(3):  # someone else filled d1's chat window (burst of 3) just now
        await bot.send_message(busy, f"tin {n}")
    await launch(world)
    sender = Sender(world.db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ)
    await sender.run_once()  # one batch: every row of the campaign
    by_chat = {r.chat_id: r for r in await rows(world.db)}
    assert by_chat[busy].status == "pending" and "(chat)" in by_chat[busy].error
    assert all(by_chat[p.id].status == "sent" for p in extra), "the others were not held up"
    limits = sandbox.world.limits
    assert (limits.refused_chat, limits.refused_overall) == (1, 0)
    assert sender.pacer.paused_until < time.monotonic()
    await drain(sender, world.db)
    assert len(bot_messages(sandbox, busy)) == 4
    settled = {r.chat_id: r for r in await rows(world.db)}[busy]
    assert settled.status == "sent" and settled.attempts == 1, "a 429 is not an attempt"


async def test_a_deployment_wide_429_pauses_every_chat(
    world,
    sandbox,  # noqa: F811
    bot,  # noqa: F811
):
    await link_members(world, sandbox)
    extra = await add_volunteers(world, sandbox, "district", 30)
    limits = sandbox.world.limits
    limits.enabled = True
    limits.flood(2.0)  # Telegram holds the whole bot for 2 s
    await launch(world)
    await drain(Sender(world.db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ), world.db, 30)
    # Without the pause every one of the 34 would have been refused; two different chats
    # refused in a row are enough to tell, and whatever was already on the wire.
    assert 2 <= limits.refused_overall <= 4, limits.refused_overall
    assert all(len(bot_messages(sandbox, p.id)) == 1 for p in extra)
    outbox_rows = await rows(world.db)
    assert {r.status for r in outbox_rows} == {"sent"}
    assert all(r.attempts == 1 for r in outbox_rows), "a 429 is not an attempt"


async def test_a_paid_broadcast_is_charged_and_a_short_balance_falls_back_to_the_free_rate(
    world,
    sandbox,  # noqa: F811
    bot,  # noqa: F811
):
    await link_members(world, sandbox)
    extra = await add_volunteers(world, sandbox, "district", 40)
    limits = sandbox.world.limits
    limits.enabled = True
    limits.stars_tenths = 20  # 2 Stars: twenty messages' worth
    await launch(world, paid=True)
    sender = Sender(world.db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ)
    await drain(sender, world.db, 30)
    assert (limits.paid_sent, limits.spent_tenths, limits.stars_tenths) == (20, 20, 0)
    assert all(len(bot_messages(sandbox, p.id)) == 1 for p in extra), "nobody lost, nobody twice"
    assert sandbox.world.sent == 44
    outbox_rows = await rows(world.db)
    assert {r.status for r in outbox_rows} == {"sent"}
    # The requests already waiting to go out as paid when the balance ran short were refused
    # and sent again free, marked so; a refusal is not an attempt.
    refused = [r for r in outbox_rows if r.payload.get("unpaid")]
    assert 1 <= len(refused) <= 24
    assert all(r.attempts == 1 for r in outbox_rows)
    assert time.monotonic() < sender.paid_refused_until  # the rest go free for a while
    assert limits.refused == 0


async def test_the_deployment_setting_sends_every_message_as_a_paid_broadcast(
    world,
    sandbox,  # noqa: F811
    bot,  # noqa: F811
):
    await link_members(world, sandbox)
    sandbox.world.limits.stars_tenths = 100
    await launch(world)
    sender = Sender(world.db, bot, rate=DEFAULT_SEND_RATE, timezone=TZ, paid_broadcast=True)
    await drain(sender, world.db)
    assert sandbox.world.limits.paid_sent == 4  # d1, d2, d3, c1
    assert sandbox.world.limits.stars_tenths == 96


async def test_one_sender_leads_per_database_and_a_standby_takes_over(db: Database):
    one, two = Leader(db, 1, "sender"), Leader(Database(db.url), 1, "sender")
    try:
        assert await one.try_lead() is True
        assert await two.try_lead() is False
        assert await one.try_lead() is True  # still leading
        await one.step_down()
        assert await two.try_lead() is True
        assert await one.try_lead() is False
    finally:
        await one.step_down()
        await two.step_down()
        await two.db.dispose()


async def test_the_launch_confirmation_says_how_long_delivery_takes_and_what_paid_costs(world):
    cid = await world.campaign(targets=("district",))
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_in(client, "coordinator")
        vietnamese = re.sub(r"\s+", " ", (await client.get(f"/campaigns/{cid}/launch")).text)
        await client.post(
            "/language", data={"lang": "en", "_csrf_token": client.cookies["coordinator_csrf"]}
        )
        english = re.sub(r"\s+", " ", (await client.get(f"/campaigns/{cid}/launch")).text)
    # 4 volunteers (d1, d2, d3, c1) at 30/s: about a second; as a paid broadcast 0.4 Stars.
    assert "Delivery takes about 1 s at the current rate of 30 messages/s." in english
    assert "cost up to 0.4 Stars (0.1 Star per message)" in english
    assert "Việc gửi mất khoảng 1 giây với tốc độ hiện tại 30 tin/giây." in vietnamese
    assert "tốn tối đa 0.4 Sao (0,1 Sao mỗi tin)" in vietnamese


def test_the_estimate_follows_the_pacers_own_sustained_rate():
    free, paid, stars = delivery_estimate(3_000, 30)
    assert 100 <= free <= 101  # 3,000 at just under 30/s
    assert 3.0 <= paid <= 3.1 and stars == 300
    assert sustained_rate(30) > 29.8


async def test_an_urgent_campaign_asks_for_a_paid_broadcast_in_the_api_and_the_form(api, world):
    c = api.as_("coordinator")
    now = utcnow()
    body = {
        "agreement_id": world.agreement["province"],
        "title": "Cảnh báo khẩn",
        "launch_at": now.isoformat(),
        "deadline_at": (now + timedelta(days=1)).isoformat(),
    }
    plain = await api.post("/api/v1/campaigns", headers=c, json=body)
    assert plain.status_code == 201 and plain.json()["paid_broadcast"] is False
    urgent = await api.post("/api/v1/campaigns", headers=c, json=body | {"paid_broadcast": True})
    assert urgent.status_code == 201 and urgent.json()["paid_broadcast"] is True
    cid = urgent.json()["id"]
    await sign_in(api, "coordinator")
    form = (await api.get(f"/campaigns/{cid}/edit")).text
    assert re.search(r'name="paid_broadcast" checked', form)
    launch_page = re.sub(r"\s+", " ", (await api.get(f"/campaigns/{cid}/launch")).text)
    assert "Gửi trả phí (tới 1.000 tin/giây)" in launch_page
    bad = await api.post("/api/v1/campaigns", headers=c, json=body | {"paid_broadcast": "yes"})
    assert bad.status_code == 400
