"""Period tallies against a brute-force recount of the raw rows, for random task statuses and
unreachable members: by organization (rolled up through the tree), by club, scoped by role."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import ASSIGNMENT_STATUSES, Assignment, Campaign
from coordinator.organizations.models import GroupChat, Member, MemberClub, Organization
from coordinator.tallies.period import COLUMNS, Counts, period_tally
from tests.conftest import open_database
from tests.factories import build_world

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
START, END = NOW - timedelta(days=30), NOW + timedelta(days=1)


def _bump(into: dict[str, int], status: str, unreachable: bool) -> None:
    into["assigned"] += 1
    into["delivered"] += status != "pending"
    into["acknowledged"] += status in ("acknowledged", "done")
    if status in ("done", "declined", "expired"):
        into[status] += 1
    into["unreachable"] += unreachable


async def _recount(db, actor) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """Row by row: every task counts for its organization and each organization above it."""
    async with db.read() as session:
        parents = dict(
            (await session.execute(select(Organization.id, Organization.parent_id))).all()
        )
        visible = set((await session.scalars(scope.campaigns(actor, select(Campaign.id)))).all())
        tasks = (await session.execute(select(Assignment))).scalars().all()
        members = {m.id: m for m in (await session.scalars(select(Member))).all()}
        groups = {g.id: g for g in (await session.scalars(select(GroupChat))).all()}
        club_of = {}
        for member_id, club_id in (
            await session.execute(select(MemberClub.member_id, MemberClub.club_id))
        ).all():
            club_of.setdefault(member_id, []).append(club_id)
    keep = actor.subtree if actor.role == "lead" else set(parents)
    orgs = {o: dict.fromkeys(COLUMNS, 0) for o in parents if o in keep}
    clubs: dict[int, dict[str, int]] = {}
    for task in tasks:
        if task.campaign_id not in visible:
            continue
        if task.member_id is not None:
            who = members[task.member_id]
            org, unreachable, task_clubs = (
                who.organization_id,
                who.unreachable_at is not None,
                club_of.get(who.id, []),
            )
        else:
            group = groups[task.group_chat_id]
            org, unreachable = group.organization_id, group.unreachable_at is not None
            task_clubs = [group.club_id] if group.club_id else []
        while org is not None:
            if org in orgs:
                _bump(orgs[org], task.status, unreachable)
            org = parents[org]
        for club in task_clubs:
            _bump(clubs.setdefault(club, dict.fromkeys(COLUMNS, 0)), task.status, unreachable)
    return orgs, clubs


def test_period_tallies_equal_a_recount_of_the_raw_rows(template_url, tmp_path):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    db = run(open_database(template_url, tmp_path))
    try:
        world = run(build_world(db))

        async def setup() -> None:
            async with db.write() as session:
                session.add(
                    GroupChat(
                        telegram_chat_id=-900, title="Nhóm xã", organization_id=world.org["commune"]
                    )
                )
            dm = await world.campaign(launch_at=NOW, deadline_at=NOW + timedelta(days=5))
            group = await world.campaign(
                targets=("district",),
                mode="group",
                launch_at=NOW,
                deadline_at=NOW + timedelta(days=5),
            )
            for campaign_id in (dm, group):
                await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id, NOW)

        run(setup())

        async def ids() -> tuple[list[int], list[int]]:
            async with db.read() as session:
                tasks = list(
                    (
                        await session.scalars(select(Assignment.id).order_by(col(Assignment.id)))
                    ).all()
                )
                people = list(
                    (await session.scalars(select(Member.id).order_by(col(Member.id)))).all()
                )
            return tasks, people

        tasks, people = run(ids())
        assert len(tasks) >= 5

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            statuses=st.lists(
                st.sampled_from(ASSIGNMENT_STATUSES), min_size=len(tasks), max_size=len(tasks)
            ),
            unreachable=st.sets(st.sampled_from(people)),
        )
        def check(statuses: list[str], unreachable: set[int]) -> None:
            async def apply() -> None:
                async with db.write() as session:
                    for task_id, status in zip(tasks, statuses, strict=True):
                        await session.execute(
                            update(Assignment)
                            .where(col(Assignment.id) == task_id)
                            .values(status=status)
                        )
                    await session.execute(update(Member).values(unreachable_at=None))
                    if unreachable:
                        await session.execute(
                            update(Member)
                            .where(col(Member.id).in_(unreachable))
                            .values(unreachable_at=NOW)
                        )

            run(apply())
            for who in ("admin", "lead", "leadership"):
                actor = world.actor[who]
                tally = run(period_tally(db, actor, START, END, TZ))
                orgs, clubs = run(_recount(db, actor))
                assert {line.key: asdict(line.counts) for line in tally.organizations} == orgs, who
                assert {line.key: asdict(line.counts) for line in tally.clubs} == {
                    k: v for k, v in clubs.items() if v["assigned"]
                }, who
                total = Counts()
                for status in statuses:
                    total.add_status(status, 1, 0)
                assert tally.total.assigned == len(tasks) and tally.total.done == total.done

        check()
    finally:
        run(db.dispose())
        loop.close()


def test_leadership_exports_hide_counts_below_five():
    from coordinator.tallies.exports import count_row

    counts = Counts(assigned=12, delivered=12, acknowledged=4, done=3, declined=0, expired=5)
    hidden = count_row("Huyện đoàn A", counts, small_hidden=True)
    shown = count_row("Huyện đoàn A", counts, small_hidden=False)
    assert hidden[1:8] == [12, 12, "<5", "<5", 0, 5, 0]
    assert shown[1:8] == [12, 12, 4, 3, 0, 5, 0]
    # 0.25 of 12 would give the masked 3 back: no rate next to a masked count.
    assert hidden[8] is None and shown[8] == 0.25
    few = Counts(assigned=3, delivered=3, done=0)
    assert count_row("CLB nhỏ", few, small_hidden=True)[1:] == ["<5"] * 7 + [None]
    assert count_row("CLB rỗng", Counts(), small_hidden=False)[1:] == [0] * 7 + [None]


async def test_the_activation_funnel_counts_members_invited_linked_and_active(db):
    from coordinator.campaigns.reports import ReportRequest, record_report
    from coordinator.organizations.invites import member_invite
    from coordinator.tallies.funnel import activation_funnel

    world = await build_world(db)
    await member_invite(db, world.actor["admin"], world.member["c_unlinked"])
    campaign_id = await world.campaign(launch_at=NOW, deadline_at=NOW + timedelta(days=3))
    await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id, NOW)
    async with db.read() as session:
        task = await session.scalar(
            select(Assignment).where(Assignment.member_id == world.member["d1"])
        )
    assert task is not None
    await record_report(
        db,
        ReportRequest(assignment_id=task.id, member_id=world.member["d1"], action="done"),
        now=NOW + timedelta(hours=1),
    )
    lines = {
        line.key: line
        for line in await activation_funnel(db, world.actor["lead"], now=NOW + timedelta(days=2))
    }
    assert set(lines) == {world.org["district"], world.org["commune"]}  # the lead's subtree
    district = lines[world.org["district"]].counts
    assert (district.members, district.invited, district.linked, district.active) == (5, 5, 4, 1)
    commune = lines[world.org["commune"]].counts
    assert (commune.members, commune.invited, commune.linked, commune.active) == (2, 2, 1, 0)
    later = await activation_funnel(db, world.actor["leadership"], now=NOW + timedelta(days=40))
    assert all(line.counts.active == 0 for line in later)  # 30 days on, nobody is "active"


async def test_a_campaign_tally_has_median_times_and_whether_the_quota_is_met(db):
    from coordinator.tallies.service import campaign_tally

    world = await build_world(db)
    campaign_id = await world.campaign(launch_at=NOW, deadline_at=NOW + timedelta(days=3))
    async with db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.quota_percent = 50
    await campaigns.launch_campaign(db, world.actor["coordinator"], campaign_id, NOW)
    async with db.write() as session:
        tasks = (
            await session.scalars(
                select(Assignment)
                .where(Assignment.campaign_id == campaign_id)
                .order_by(col(Assignment.id))
            )
        ).all()
        minute = timedelta(minutes=1)
        for task in tasks:
            task.status, task.delivered_at = "delivered", NOW
        tasks[0].status, tasks[0].acknowledged_at, tasks[0].done_at = (
            "done",
            NOW + 10 * minute,
            NOW + 30 * minute,
        )
        tasks[1].status, tasks[1].done_at = "done", NOW + 20 * minute  # straight to Done
    tally = await campaign_tally(db, world.actor["coordinator"], campaign_id)
    assert tally.assigned == 4 and tally.participation_rate == 0.5
    assert tally.median_minutes_to_acknowledge == 15.0  # 10 and 20
    assert tally.median_minutes_to_done == 25.0  # 30 and 20
    assert tally.quota_met is True
