"""The tally summary kept by triggers equals an exact recount of the raw rows, whatever the
order of launches, presses, expiries, deletions and moves; and a summary that drifted anyway
is reported line by line and repaired."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, update
from sqlmodel import col, select

from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import DomainError
from coordinator.organizations.models import GroupChat, Member, MemberClub
from coordinator.scheduler import Leader, tick
from coordinator.settings import Settings
from coordinator.tallies.models import ORGANIZATION_LINE, MemberTally, TallySummary
from coordinator.tallies.period import period_tally
from coordinator.tallies.summary import recount_summary
from tests.conftest import open_database
from tests.factories import build_world

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=30), NOW + timedelta(days=1)
PEOPLE = ("d1", "d2", "d3", "c1", "c_unlinked")


async def _launched_world(db):  # type: ignore[no-untyped-def]
    world = await build_world(db)
    async with db.write() as session:
        session.add(
            GroupChat(telegram_chat_id=-901, title="Xã", organization_id=world.org["commune"])
        )
        session.add(
            GroupChat(
                telegram_chat_id=-902,
                title="CLB",
                organization_id=world.org["district"],
                club_id=world.club["club"],
            )
        )
    ids = [
        await world.campaign(launch_at=NOW, deadline_at=NOW + timedelta(days=5)),
        await world.campaign(
            targets=("district",), launch_at=NOW, deadline_at=NOW + timedelta(days=5)
        ),
        await world.campaign(
            targets=("district",),
            mode="group",
            launch_at=NOW,
            deadline_at=NOW + timedelta(days=5),
        ),
    ]
    for campaign_id in ids:
        await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id, NOW)
    return world, ids


async def test_a_recount_reports_and_repairs_a_drifted_summary(db):
    world, ids = await _launched_world(db)
    admin = world.actor["admin"]
    assert not (await recount_summary(db)).drifted
    before = asdict(await period_tally(db, admin, START, END, TZ))
    district, club = world.org["district"], world.club["club"]
    async with db.write() as session:
        key = (
            col(TallySummary.campaign_id) == ids[0],
            col(TallySummary.organization_id) == district,
        )
        await session.execute(
            update(TallySummary)
            .where(*key, col(TallySummary.club_id) == ORGANIZATION_LINE)
            .values(done=TallySummary.done + 3, pending=TallySummary.pending - 1)
        )
        await session.execute(delete(TallySummary).where(*key, col(TallySummary.club_id) == club))
        await session.execute(
            insert(TallySummary).values(
                campaign_id=ids[1], organization_id=world.org["outsider"], club_id=0, expired=7
            )
        )
        await session.execute(
            update(MemberTally)
            .where(col(MemberTally.organization_id) == district)
            .values(active=MemberTally.active + 4)
        )
    assert asdict(await period_tally(db, admin, START, END, TZ)) != before

    report = await recount_summary(db)

    drift = {
        (line.campaign_id, line.organization_id, line.club_id): line.off_by for line in report.lines
    }
    assert drift == {
        (ids[0], district, ORGANIZATION_LINE): {"pending": 1, "done": -3},
        (ids[0], district, club): {"pending": 2},  # d1 and d3 are in the club
        (ids[1], world.org["outsider"], ORGANIZATION_LINE): {"expired": -7},
        (None, district, 0): {"active": -4},
    }
    assert f"campaign {ids[0]} organization {district} club -: pending +1, done -3" in {
        str(line) for line in report.lines
    }
    assert asdict(await period_tally(db, admin, START, END, TZ)) == before
    assert not (await recount_summary(db)).drifted


OPERATIONS = st.one_of(
    st.tuples(st.just("launch"), st.integers(0, 2)),
    st.tuples(
        st.just("press"),
        st.sampled_from(PEOPLE),
        st.sampled_from(["acknowledged", "done", "declined"]),
    ),
    st.tuples(st.just("expire"), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("unreachable"), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.just("move"), st.sampled_from(PEOPLE), st.sampled_from(["district", "commune"])),
    st.tuples(st.just("club"), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.just("group"), st.booleans()),
    st.tuples(st.just("link"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("deactivate"), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.just("join"), st.sampled_from(["district", "commune", "outsider"])),
)


async def _apply(db, world, ids, op) -> None:  # type: ignore[no-untyped-def]
    kind, *args = op
    coordinator = world.actor["coordinator"]
    try:
        if kind == "launch":
            await campaigns.launch_campaign(db, coordinator, ids[args[0]], NOW)
        elif kind == "expire":
            await campaigns.close_campaign(db, coordinator, ids[args[0]], NOW)
        elif kind == "press":
            await _press(db, world.member[args[0]], args[1])
        else:
            async with db.write() as session:
                await _change(session, world, kind, args)
    except DomainError:
        pass  # e.g. launching a closed campaign: refused, and so counted as nothing


async def _press(db, member_id: int, action: str) -> None:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        tasks = (await session.scalars(select(Assignment.id))).all()
    for task_id in tasks:
        with contextlib.suppress(DomainError):  # not their task
            await record_report(db, ReportRequest(task_id, member_id, action), now=NOW)


async def _change(session, world, kind: str, args: list) -> None:  # type: ignore[no-untyped-def]
    member = world.member.get(args[0]) if args and isinstance(args[0], str) else None
    if kind == "join":
        member = None
    if kind == "delete":
        task = await session.scalar(select(Assignment.id).offset(args[0]).limit(1))
        if task is not None:
            await session.execute(delete(Report).where(col(Report.assignment_id) == task))
            await session.execute(
                delete(OutboxMessage).where(col(OutboxMessage.assignment_id) == task)
            )
            await session.execute(delete(Assignment).where(col(Assignment.id) == task))
    elif kind == "unreachable":
        await session.execute(
            update(Member)
            .where(col(Member.id) == member)
            .values(unreachable_at=NOW if args[1] else None)
        )
    elif kind == "move":
        await session.execute(
            update(Member)
            .where(col(Member.id) == member)
            .values(organization_id=world.org[args[1]])
        )
    elif kind == "club":
        await session.execute(
            delete(MemberClub).where(
                col(MemberClub.member_id) == member, col(MemberClub.club_id) == world.club["club"]
            )
        )
        if args[1]:
            session.add(MemberClub(member_id=member, club_id=world.club["club"]))
    elif kind == "group":
        await session.execute(
            update(GroupChat)
            .where(col(GroupChat.telegram_chat_id) == -901)
            .values(
                club_id=world.club["club"] if args[0] else None,
                unreachable_at=NOW if args[0] else None,
            )
        )
    elif kind == "deactivate":
        await session.execute(
            update(Member)
            .where(col(Member.id) == member)
            .values(deactivated_at=NOW if args[1] else None)
        )
    elif kind == "join":
        session.add(Member(organization_id=world.org[args[0]], display_name="Đoàn viên mới"))
    elif kind == "link":
        row = await session.get(Member, member)
        row.telegram_user_id = row.telegram_user_id or 9_000_000 + row.id


def test_any_sequence_of_changes_keeps_the_summary_equal_to_a_recount(template_url, tmp_path):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    db = run(open_database(template_url, tmp_path))
    try:
        world, ids = run(_launched_world(db))

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(OPERATIONS, min_size=1, max_size=12))
        def check(operations: list[tuple]) -> None:  # type: ignore[type-arg]
            for op in operations:
                run(_apply(db, world, ids, op))
            report = run(recount_summary(db))
            assert not report.drifted, [str(line) for line in report.lines]

        check()
    finally:
        run(db.dispose())
        loop.close()


async def test_the_scheduler_recounts_the_summary_at_most_hourly(db, tmp_path):
    world, ids = await _launched_world(db)
    settings = Settings(
        database_url="unused",
        secret_key="k" * 40,
        telegram_token=None,
        telegram_api_url=None,
        telegram_mode="polling",
        webhook_url=None,
        webhook_secret=None,
        locale="vi",
        send_rate=25,
        timezone=TZ,
        var_dir=tmp_path,
    )
    leader = Leader(db)
    line = (
        col(TallySummary.campaign_id) == ids[0],
        col(TallySummary.organization_id) == world.org["district"],
        col(TallySummary.club_id) == ORGANIZATION_LINE,
    )

    async def corrupt() -> None:
        async with db.write() as session:
            await session.execute(
                update(TallySummary).where(*line).values(expired=TallySummary.expired + 5)
            )

    async def expired_kept() -> int:
        async with db.read() as session:
            return int(await session.scalar(select(TallySummary.expired).where(*line)) or 0)

    await corrupt()
    await tick(db, settings, leader, NOW)
    assert await expired_kept() == 0
    await corrupt()
    await tick(db, settings, leader, NOW + timedelta(minutes=30))
    assert await expired_kept() == 5, "not again within the hour"
    await tick(db, settings, leader, NOW + timedelta(minutes=61))
    assert await expired_kept() == 0
