"""Leads and leadership in Telegram: linking their own account, news of members joining, the
daily digest and the weekly summary, each queued once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Conflict
from coordinator.organizations import invites, onboarding
from coordinator.sandbox.html import visible_text
from coordinator.tallies.digests import queue_digests

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LEAD_TG, LEADERSHIP_TG, OUTSIDER_TG = 700_001, 700_002, 700_003


def _secret(link: invites.InviteLink) -> str:
    return link.link.split("start=", 1)[1]


async def _link_user(world, key: str, telegram_id: int) -> None:
    link = await invites.user_invite(world.db, world.actor[key])
    linked = await onboarding.link_account(world.db, _secret(link), telegram_id)
    assert isinstance(linked, onboarding.LinkedUser) and linked.username == key.replace("_", "-")


async def _texts(db, chat_id: int | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.kind == "text").order_by(OutboxMessage.id)
    if chat_id is not None:
        stmt = stmt.where(OutboxMessage.chat_id == chat_id)
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())


async def test_it_links_a_users_own_telegram_once_and_tells_leads_who_joined(world):
    await _link_user(world, "lead", LEAD_TG)
    await _link_user(world, "outsider_lead", OUTSIDER_TG)
    async with world.db.read() as session:
        lead = await session.get(User, world.user_id["lead"])
    assert lead.telegram_user_id == LEAD_TG
    # The account cannot serve a second user.
    link = await invites.user_invite(world.db, world.actor["coordinator"])
    with pytest.raises(Conflict):
        await onboarding.link_account(world.db, _secret(link), LEAD_TG)
    # A member of the lead's district (a commune below it) links: the lead hears it, once.
    member_link = await invites.member_invite(world.db, world.actor["admin"], world.member["c1"])
    await onboarding.link_account(world.db, _secret(member_link), 800_001)
    [note] = await _texts(world.db)
    assert note.chat_id == LEAD_TG and "Đoàn viên c1" in note.payload["text"]
    assert await _texts(world.db, OUTSIDER_TG) == []
    await onboarding.unlink_user(world.db, world.user_id["lead"])
    async with world.db.read() as session:
        assert (await session.get(User, world.user_id["lead"])).telegram_user_id is None


async def test_two_invites_racing_for_one_account_link_only_one(world):
    links = [
        await invites.member_invite(world.db, world.actor["admin"], world.member[key])
        for key in ("d1", "d2")
    ]
    results = await asyncio.gather(
        *(onboarding.link_account(world.db, _secret(link), 800_002) for link in links),
        return_exceptions=True,
    )
    linked = [r for r in results if isinstance(r, onboarding.Linked)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(linked) == 1 and len(refused) == 1 and refused[0].code == "account_taken"


def _local(day: datetime, hour: int) -> datetime:
    return day.astimezone(TZ).replace(hour=hour, minute=30, second=0, microsecond=0)


async def test_a_lead_gets_one_daily_digest_with_their_own_laggards(world):
    await _link_user(world, "lead", LEAD_TG)
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        from coordinator.campaigns.models import Assignment

        task = await session.scalar(
            select(Assignment.id).where(
                Assignment.campaign_id == cid, Assignment.member_id == world.member["d1"]
            )
        )
    await record_report(world.db, ReportRequest(task, world.member["d1"], "done"))
    morning = _local(utcnow(), 8)
    assert await queue_digests(world.db, morning - timedelta(hours=2), TZ) == 0  # 06:30
    assert await queue_digests(world.db, morning, TZ) == 1
    assert await queue_digests(world.db, morning + timedelta(minutes=1), TZ) == 0  # once a day
    [digest] = await _texts(world.db, LEAD_TG)
    text = digest.payload["text"]
    assert "Cảnh giác lừa đảo" in text
    assert "Đã làm xong: 1/4 (25%)" in text  # d1 of d1, d2, d3, c1: the lead's district
    assert visible_text(text, "HTML").startswith("Tóm tắt hằng ngày")  # Telegram would take it
    # Names of the lead's own people who have not done it; nobody from outside the district.
    assert "Đoàn viên d2" in text and "Đoàn viên c1" in text and "Đoàn viên d1" not in text
    assert "Đoàn viên b_opted_out" not in text and "o1" not in text


async def test_leadership_gets_a_weekly_summary_in_counts_only(world):
    await _link_user(world, "leadership", LEADERSHIP_TG)
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    today = utcnow().astimezone(TZ)
    next_monday = _local(today + timedelta(days=7 - today.weekday()), 9)
    assert await queue_digests(world.db, next_monday - timedelta(days=1), TZ) == 0  # a Sunday
    assert await queue_digests(world.db, next_monday, TZ) == 1
    assert await queue_digests(world.db, next_monday + timedelta(hours=1), TZ) == 0
    [summary] = await _texts(world.db, LEADERSHIP_TG)
    text = summary.payload["text"]
    assert "Nhiệm vụ: &lt;5" in text  # five tasks or fewer: never shown as a number
    assert visible_text(text, "HTML").startswith("Tổng kết tuần")  # Telegram would take it
    assert "Đoàn viên" not in text  # never a name
    async with world.db.read() as session:
        keys = (
            await session.scalars(
                select(OutboxMessage.dedupe_key).where(col(OutboxMessage.chat_id) == LEADERSHIP_TG)
            )
        ).all()
    assert keys == [
        f"weekly:{world.user_id['leadership']}:{next_monday.isocalendar()[0]}-W"
        f"{next_monday.isocalendar()[1]:02d}"
    ]
