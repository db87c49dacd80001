"""Honest reachability: who Telegram refused is not assigned again until they come back, the
tallies say how many were not reached (or reached twice, or maybe), and delivery is dated by
its first proof."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
from sqlalchemy import insert, update
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.base import utcnow
from coordinator.bots.presses import Press, record_presses
from coordinator.bots.settle import SETTLE
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.delivery import store
from coordinator.delivery.models import OutboxMessage
from coordinator.delivery.store import Outcome
from coordinator.organizations import onboarding
from coordinator.organizations.models import GroupChat, Member
from coordinator.tallies.service import campaign_breakdown, campaign_tally
from tests.bots import test_bot
from tests.bots.test_bot import Phone, eventually, onboard
from tests.web.test_web_authorization import sign_in

live = test_bot.live  # the real bot polling the sandbox, its sender running


async def _member(db, member_id: int) -> Member:
    async with db.read() as session:
        member = await session.get(Member, member_id)
    assert member is not None
    return member


async def _task(db, campaign_id: int, member_id: int) -> Assignment | None:
    async with db.read() as session:
        return await session.scalar(
            select(Assignment).where(
                Assignment.campaign_id == campaign_id, Assignment.member_id == member_id
            )
        )


async def _notes_to(db, chat_id: int, prefix: str) -> list[OutboxMessage]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == chat_id,
                    col(OutboxMessage.dedupe_key).startswith(prefix),
                )
            )
        )


async def test_it_skips_a_refused_member_until_start_brings_them_back_and_tells_the_lead(
    world, live
):
    lead = live.world.add_person("Cán bộ", None, "vi")
    async with world.db.write() as session:
        user = await session.get(User, world.user_id["lead"])
        user.telegram_user_id = lead.id
    phone = await onboard(world, live, "d1")
    async with world.db.write() as session:  # the others have real (sandbox) accounts too
        for key in ("d2", "d3", "c1"):
            other = await session.get(Member, world.member[key])
            other.telegram_user_id = live.world.add_person(key, None, "vi").id
    blocked = await httpx.AsyncClient(base_url=live.url).post(f"/sandbox/users/{phone.id}/block")
    assert blocked.status_code == 200
    first = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], first)

    async def refused():
        return (await _member(world.db, world.member["d1"])).unreachable_at

    await eventually(refused)
    second = await world.campaign(targets=("district",))
    launched = await campaigns.launch_campaign(world.db, world.actor["coordinator"], second)
    assert await _task(world.db, second, world.member["d1"]) is None
    assert launched.created == 3  # d2, d3 and c1; d1 is skipped, not assigned again
    tally = await campaign_tally(world.db, world.actor["coordinator"], second)
    assert (tally.delivery.unreachable, tally.delivery.unreachable_skipped) == (1, 1)

    await httpx.AsyncClient(base_url=live.url).post(f"/sandbox/users/{phone.id}/unblock")
    await phone.say("/start")
    await phone.say("/start")

    async def answered_twice():
        said = [m for m in await phone.chat() if m["from"]["is_bot"] and "/tasks" in m["text"]]
        return len(said) == 2

    await eventually(answered_twice)
    assert (await _member(world.db, world.member["d1"])).unreachable_at is None
    lead_phone = Phone(live, lead.id)
    await eventually(lambda: lead_phone.bot_said("liên lạc lại"))
    assert len(await _notes_to(world.db, lead.id, "back:")) == 1  # once, however often they write
    tally = await campaign_tally(world.db, world.actor["coordinator"], second)
    assert tally.delivery.unreachable == 0

    async def cards(count: int):
        said = [m for m in await phone.chat() if "Cảnh giác lừa đảo" in m.get("text", "")]
        return len(said) == count

    await eventually(lambda: cards(1))  # the first campaign's refused card goes out again
    again = await campaigns.launch_campaign(world.db, world.actor["coordinator"], second)
    assert again.created == 1
    await eventually(lambda: cards(2))  # and the second campaign's, now that they are assigned


async def test_a_press_in_their_own_chat_brings_a_refused_member_back(world):
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    d1 = await _member(world.db, world.member["d1"])
    task = await _task(world.db, cid, world.member["d1"])
    async with world.db.write() as session:
        await session.execute(
            update(Member).where(col(Member.id) == d1.id).values(unreachable_at=utcnow())
        )
    press = Press(7001, d1.telegram_user_id, f"t:{task.id}:ack", d1.telegram_user_id, {})
    [result] = await record_presses(world.db, [press], "vi")
    assert result.refusal is None
    assert (await _member(world.db, world.member["d1"])).unreachable_at is None


async def test_a_group_that_writes_again_is_reachable_again(world):
    async with world.db.write() as session:
        session.add(
            GroupChat(
                telegram_chat_id=-4001,
                title="Huyện",
                organization_id=world.org["district"],
                unreachable_at=utcnow(),
            )
        )
    cid = await world.campaign(targets=("district",), mode="group")
    launched = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert launched.created == 0
    assert await onboarding.group_came_back(world.db, -4001)
    assert not await onboarding.group_came_back(world.db, -4001)
    again = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert again.created == 1


async def _refused_resent_uncertain(world) -> int:
    """A launched campaign of 8 tasks: d2 refused for good, d1 uncertain, d3 resent once;
    and 7 targeted members skipped because unreachable (c1 and six more)."""
    now = utcnow()
    async with world.db.write() as session:
        people = [
            {
                "organization_id": world.org["district"],
                "display_name": f"v{n}",
                "telegram_user_id": 7_000_000 + n,
                "locale": "vi",
                "created_at": now,
                "unreachable_at": now if n < 6 else None,
            }
            for n in range(11)
        ]
        await session.execute(insert(Member), people)
        await session.execute(
            update(Member).where(col(Member.id) == world.member["c1"]).values(unreachable_at=now)
        )
    cid = await world.campaign(targets=("province",))
    launched = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert launched.created == 8  # d1, d2, d3 and five reachable newcomers
    tasks = {key: (await _task(world.db, cid, world.member[key])).id for key in ("d1", "d2", "d3")}
    leased = {row.assignment_id: row for row in await store.lease(world.db, 100)}
    await store.record(
        world.db,
        [
            Outcome(leased[tasks["d1"]], "uncertain", error="timed out after sending"),
            Outcome(leased[tasks["d2"]], "failed", error="Forbidden: blocked", unreachable=True),
            *(
                Outcome(row, "sent", message_id=row.id)
                for task, row in leased.items()
                if task not in tasks.values()
            ),
        ],
        SETTLE,
    )
    await store.reap(world.db, now=utcnow() + timedelta(minutes=5))  # d3's lease ran out: resent
    return cid


async def test_the_campaign_tally_counts_unreachable_resent_and_uncertain(world, api):
    cid = await _refused_resent_uncertain(world)
    tally = await campaign_tally(world.db, world.actor["coordinator"], cid)
    assert tally.assigned == 8
    figures = tally.delivery
    assert (figures.unreachable, figures.unreachable_skipped) == (8, 7)  # d2 + the 7 skipped
    assert (figures.resent, figures.uncertain) == (1, 1)

    exact = (await api.get(f"/api/v1/campaigns/{cid}/tally", headers=api.as_("coordinator"))).json()
    assert [exact[k] for k in ("unreachable", "unreachable_skipped", "resent", "uncertain")] == [
        8,
        7,
        1,
        1,
    ]
    masked = (await api.get(f"/api/v1/campaigns/{cid}/tally", headers=api.as_("leadership"))).json()
    assert [masked[k] for k in ("unreachable", "unreachable_skipped", "resent", "uncertain")] == [
        8,
        7,
        None,  # "<5": listed in `masked`
        None,
    ]
    assert {"resent", "uncertain"} <= set(masked["masked"])
    assert not any(k.endswith("_rate") for k in masked if k != "participation_rate")


async def test_the_status_page_shows_them_masked_for_leadership(world, api):
    cid = await _refused_resent_uncertain(world)
    breakdown = await campaign_breakdown(world.db, world.actor["lead"], cid)
    assert breakdown.delivery.unreachable == 8  # every one of them is in the lead's district
    for who, resent in (("coordinator", ">1<"), ("leadership", ">&lt;5<")):
        api.cookies.clear()
        await sign_in(api, who)
        page = await api.get(f"/campaigns/{cid}/progress", headers={"HX-Request": "true"})
        assert page.status_code == 200
        fragment = page.text.split('id="total-resent"', 1)[1][:12]
        assert resent in fragment, fragment
        assert 'id="skipped-unreachable"' in page.text
        assert 'id="total-uncertain"' in page.text


async def test_a_press_before_the_sent_record_dates_delivery_and_keeps_it(world):
    cid = await world.campaign(targets=("district",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    d1 = await _member(world.db, world.member["d1"])
    task = await _task(world.db, cid, world.member["d1"])
    leased = await store.lease(world.db, 100)
    pressed_at = utcnow()
    press = Press(7002, d1.telegram_user_id, f"t:{task.id}:ack", d1.telegram_user_id, {})
    [result] = await record_presses(world.db, [press], "vi", now=pressed_at)
    assert result.outcome is not None and result.outcome.assignment_status == "acknowledged"
    pressed = await _task(world.db, cid, world.member["d1"])
    assert pressed.delivered_at == pressed_at

    recorded_at = pressed_at + timedelta(seconds=3)
    sent = [Outcome(row, "sent", message_id=900 + n) for n, row in enumerate(leased)]
    await store.record(world.db, sent, SETTLE, now=recorded_at)
    after = await _task(world.db, cid, world.member["d1"])
    assert after.delivered_at == pressed_at  # the first proof stands
    assert after.status == "acknowledged"  # never back to delivered
    assert after.telegram_message_id is not None
    others = await _task(world.db, cid, world.member["d2"])
    assert others.delivered_at == recorded_at and others.status == "delivered"
    tally = await campaign_tally(world.db, world.actor["coordinator"], cid)
    assert tally.median_minutes_to_acknowledge == 0.0


async def test_a_group_press_before_the_sent_record_dates_delivery_too(world):
    async with world.db.write() as session:
        session.add(
            GroupChat(telegram_chat_id=-4002, title="Huyện", organization_id=world.org["district"])
        )
    cid = await world.campaign(targets=("district",), mode="group")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task = await session.scalar(select(Assignment).where(Assignment.campaign_id == cid))
    leased = await store.lease(world.db, 100)
    d1 = await _member(world.db, world.member["d1"])
    pressed_at = utcnow()
    press = Press(7003, d1.telegram_user_id, f"t:{task.id}:done", -4002, {})
    [result] = await record_presses(world.db, [press], "vi", now=pressed_at)
    assert result.outcome is not None
    await store.record(
        world.db,
        [Outcome(row, "sent", message_id=77) for row in leased if row.kind == "assignment"],
        SETTLE,
        now=pressed_at + timedelta(seconds=3),
    )
    async with world.db.read() as session:
        after = await session.get(Assignment, task.id)
    assert (after.status, after.delivered_at) == ("delivered", pressed_at)


async def test_a_lead_hears_of_each_return_once(world):
    async with world.db.write() as session:
        user = await session.get(User, world.user_id["lead"])
        user.telegram_user_id = 8_000_001
    since = utcnow() - timedelta(days=1)
    for _ in range(2):  # the same return, reported twice (a replayed update, two presses)
        async with world.db.write() as session:
            member = await session.get(Member, world.member["d1"])
            member.unreachable_at = since
            await onboarding.mark_reachable_in(session, member, utcnow())
    [note] = await _notes_to(world.db, 8_000_001, "back:")
    assert "Đoàn viên d1" in note.payload["text"] and "liên lạc lại" in note.payload["text"]
    async with world.db.write() as session:  # refused again later, back again: a new note
        member = await session.get(Member, world.member["d1"])
        member.unreachable_at = utcnow()
        await onboarding.mark_reachable_in(session, member, utcnow())
    assert len(await _notes_to(world.db, 8_000_001, "back:")) == 2


async def test_the_sent_record_settles_tasks_before_it_touches_the_outbox(world):
    """A launch locks tally summary lines before it inserts outbox rows: the sender's record
    must write the tasks (whose triggers lock those lines) first too, in task order."""
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    leased = await store.lease(world.db, 100)
    seen: list[tuple[list[int], set[str]]] = []

    async def delivered(session, cards, now):
        ids = [row.id for row in leased]
        statuses = await session.scalars(
            select(OutboxMessage.status).where(col(OutboxMessage.id).in_(ids))
        )
        seen.append(([task for task, _ in cards], set(statuses.all())))
        await SETTLE.delivered(session, cards, now)

    settle = replace(SETTLE, delivered=delivered)
    sent = [Outcome(row, "sent", message_id=500 + n) for n, row in enumerate(reversed(leased))]
    await store.record(world.db, sent, settle)
    [(tasks, statuses)] = seen
    assert statuses == {"sending"}  # no outbox row written yet
    assert len(tasks) == len(leased) > 1 and tasks == sorted(tasks)
    async with world.db.read() as session:
        states = await session.scalars(
            select(Assignment.status).where(Assignment.campaign_id == cid)
        )
        assert set(states.all()) == {"delivered"}
