"""Fair load: the weekly cap holds tasks back (counted, never lost, released when the week turns
over), an organization's cap is stricter than the deployment's, a campaign's share asks those
asked least first, and the pages show and edit both, in Vietnamese and English."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from coordinator.campaigns import cascade, fairload, held, launch, sweeps
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign, HeldTask
from coordinator.clock import zone
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations import service as organizations
from coordinator.organizations.models import Member
from coordinator.settings import get_settings
from coordinator.tallies.service import campaign_tally
from coordinator.tallies.summary import recount_summary
from tests.web.test_web_authorization import sign_in

MONDAY = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 10:00 Monday in Vietnam


@pytest.fixture
def deployment_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set COORDINATOR_WEEKLY_TASK_CAP as an operator would; the settings are read again."""

    def set_cap(cap: int | None) -> None:
        if cap is None:
            monkeypatch.delenv("COORDINATOR_WEEKLY_TASK_CAP", raising=False)
        else:
            monkeypatch.setenv("COORDINATOR_WEEKLY_TASK_CAP", str(cap))
        get_settings.cache_clear()

    yield set_cap
    monkeypatch.delenv("COORDINATOR_WEEKLY_TASK_CAP", raising=False)
    get_settings.cache_clear()


async def _campaign(world, *, targets=("province",), share=None, mode="dm", at=MONDAY) -> int:
    cid = await world.campaign(
        targets=targets, mode=mode, launch_at=at, deadline_at=at + timedelta(days=20)
    )
    if share is not None:
        async with world.db.write() as session:
            (await session.get(Campaign, cid)).ask_share_percent = share
    return cid


async def _launch(world, cid: int, now: datetime) -> int:
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid, now)
    return result.created


async def _members_of(world, table: Any, cid: int) -> set[int]:
    async with world.db.read() as session:
        rows = await session.scalars(
            select(table.member_id).where(
                table.campaign_id == cid, col(table.member_id).is_not(None)
            )
        )
        return set(rows.all())


def _eligible(world) -> set[int]:
    return {world.member[k] for k in ("d1", "d2", "d3", "c1")}


def test_the_week_is_the_iso_week_in_local_time():
    sunday_night = datetime(2026, 12, 6, 16, 59, tzinfo=UTC)  # 23:59 Sunday in Vietnam
    start, end = fairload.week_of(sunday_night, zone())
    assert start == datetime(2026, 11, 29, 17, 0, tzinfo=UTC) and end - start == timedelta(7)
    assert fairload.week_of(sunday_night + timedelta(minutes=1), zone())[0] == end


async def test_tasks_over_the_cap_are_held_counted_and_released_next_week(world, deployment_cap):
    deployment_cap(1)
    first, second = await _campaign(world), await _campaign(world)
    assert await _launch(world, first, MONDAY) == 4
    assert await _launch(world, second, MONDAY + timedelta(hours=1)) == 0
    assert await _members_of(world, HeldTask, second) == _eligible(world)
    # Held tasks are not assignments: the tallies do not count them as assigned-but-not-done.
    tally = await campaign_tally(world.db, world.actor["admin"], second)
    assert tally.assigned == 0 and tally.by_status["pending"] == 0
    assert not (await recount_summary(world.db)).drifted
    load = await held.load_of(world.db, world.actor["admin"], second)
    assert load.held == 4 and {line.held for line in load.lines} == {3, 1}
    # A lead sees their own subtree's: the district and the commune below it.
    assert (await held.load_of(world.db, world.actor["lead"], second)).held == 4
    # Relaunching in the same week changes nothing; nor does the scheduler.
    assert await _launch(world, second, MONDAY + timedelta(hours=2)) == 0
    report = await sweeps.sweep(world.db, MONDAY + timedelta(days=3), zone())
    assert report.released == {}
    # The week turns over: the held tasks go out, with their cards, once.
    next_week = MONDAY + timedelta(days=7)
    report = await sweeps.sweep(world.db, next_week, zone())
    assert report.released == {second: 4}
    assert await _members_of(world, Assignment, second) == _eligible(world)
    assert await _members_of(world, HeldTask, second) == set()
    async with world.db.read() as session:
        cards = await session.scalars(
            select(OutboxMessage.assignment_id).where(
                col(OutboxMessage.assignment_id).in_(
                    select(Assignment.id).where(Assignment.campaign_id == second)
                )
            )
        )
        assert len(cards.all()) == 4
    assert (await sweeps.sweep(world.db, next_week + timedelta(minutes=1), zone())).released == {}
    assert not (await recount_summary(world.db)).drifted


async def test_held_tasks_of_a_closed_campaign_stay_counted_and_are_not_released(
    world, deployment_cap
):
    deployment_cap(1)
    first, second = await _campaign(world), await _campaign(world)
    await _launch(world, first, MONDAY)
    await _launch(world, second, MONDAY)
    await campaigns.close_campaign(world.db, world.actor["coordinator"], second, MONDAY)
    report = await sweeps.sweep(world.db, MONDAY + timedelta(days=7), zone())
    assert report.released == {}
    assert (await held.load_of(world.db, world.actor["admin"], second)).held == 4
    # A release that read the campaign as running before the close writes nothing after it.
    async with world.db.write() as session:
        assert await launch.release_held(session, second, MONDAY + timedelta(days=7)) == 0
    assert await _members_of(world, Assignment, second) == set()


async def test_an_organization_cap_is_stricter_than_the_deployment(world, deployment_cap):
    deployment_cap(2)
    await organizations.set_weekly_task_cap(world.db, world.actor["lead"], world.org["commune"], 1)
    campaigns_ = [await _campaign(world) for _ in range(3)]
    for n, cid in enumerate(campaigns_):
        await _launch(world, cid, MONDAY + timedelta(hours=n))
    c1 = world.member["c1"]
    assert [c1 in await _members_of(world, Assignment, c) for c in campaigns_] == [
        True,
        False,
        False,
    ]
    d2 = world.member["d2"]
    assert [d2 in await _members_of(world, Assignment, c) for c in campaigns_] == [
        True,
        True,
        False,
    ]
    assert await _members_of(world, HeldTask, campaigns_[2]) == _eligible(world)


async def test_only_those_who_look_after_the_organization_set_its_cap(world):
    from coordinator.errors import Forbidden, Invalid

    with pytest.raises(Forbidden):
        await organizations.set_weekly_task_cap(
            world.db, world.actor["coordinator"], world.org["district"], 3
        )
    with pytest.raises(Forbidden):
        await organizations.set_weekly_task_cap(
            world.db, world.actor["outsider_lead"], world.org["district"], 3
        )
    with pytest.raises(Invalid):
        await organizations.set_weekly_task_cap(
            world.db, world.actor["lead"], world.org["district"], 0
        )


async def test_a_share_asks_those_asked_least_first(world):
    # The district has d1, d2, d3 eligible; 33 % of three is one (rounded up) each time.
    district = world.member["d1"], world.member["d2"], world.member["d3"]
    asked = []
    for n in range(3):
        cid = await _campaign(world, targets=("district",), share=33)
        await _launch(world, cid, MONDAY + timedelta(hours=n))
        asked.append(await _members_of(world, Assignment, cid) & set(district))
        # The commune below (c1 alone) gets its own turn: ceil(33 % of 1) = 1.
        assert world.member["c1"] in await _members_of(world, Assignment, cid)
        # A relaunch tops the share up, it does not ask another share.
        assert await _launch(world, cid, MONDAY + timedelta(hours=n, minutes=5)) == 0
    assert all(len(a) == 1 for a in asked)
    assert set().union(*asked) == set(district)
    load = await held.load_of(world.db, world.actor["admin"], cid)
    assert (load.share, load.asked, load.members) == (33, 2, 4)


async def test_a_pass_on_to_members_asks_the_share_too(world):
    from tests.factories import focal_point_id

    await focal_point_id(world, "d", "district", 7_100_001)
    cid = await _campaign(world, targets=("district",), share=50, mode="org")
    await _launch(world, cid, MONDAY)
    async with world.db.read() as session:
        task = await session.scalar(select(cascade.OrganizationTask.id))
    done = await cascade_pass(world, task, "members")
    assert done == 2  # ceil(50 % of d1, d2, d3)
    assert await cascade_pass(world, task, "members") == 0


async def cascade_pass(world, task_id: int, choice: str) -> int:
    async with world.db.write() as session:
        outcome = await cascade.pass_on(session, task_id, None, choice, MONDAY)
    return outcome.created


async def test_the_share_is_checked_in_the_form_in_both_languages(db):
    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.factories import build_world

    world = await build_world(db)
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    form = {
        "title": "Lan tỏa",
        "brief": "",
        "launch_at": "2026-12-20T08:00",
        "deadline_at": "2026-12-24T20:00",
        "delivery_mode": "dm",
        "agreement_id": str(world.agreement["province"]),
    }
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        page = await client.post(
            "/campaigns", data={**form, "ask_share_percent": "150"}, headers=headers
        )
        assert page.status_code == 200, page.text
        assert "từ 1 đến 100" in page.text, page.text[-3000:]
        assert 'name="ask_share_percent"' in page.text and 'aria-invalid="true"' in page.text
        group = await client.post(
            "/campaigns",
            data={**form, "ask_share_percent": "50", "delivery_mode": "group"},
            headers=headers,
        )
        assert "tin nhắn trong nhóm chat đến với tất cả mọi người" in group.text
        await client.post("/language", data={"lang": "en"}, headers=headers)
        english = await client.post(
            "/campaigns", data={**form, "ask_share_percent": "x"}, headers=headers
        )
        assert "between 1 and 100" in english.text
        saved = await client.post(
            "/campaigns",
            data={**form, "ask_share_percent": "40"},
            headers=headers,
            follow_redirects=False,
        )
        assert saved.status_code == 303
    async with db.read() as session:
        shares = await session.scalars(select(Campaign.ask_share_percent))
        assert shares.all() == [40]


async def test_a_lead_sets_the_cap_on_the_organization_page(db):
    from coordinator.app import create_app
    from coordinator.settings import read_settings
    from tests.factories import build_world

    world = await build_world(db)
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    district = world.org["district"]
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "lead")
        headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
        assert (
            f"/organizations/{district}/task-cap"
            in (await client.get(f"/organizations/{district}")).text
        )
        bad = await client.post(
            f"/organizations/{district}/task-cap", data={"weekly_task_cap": "ba"}, headers=headers
        )
        assert "một số nguyên từ 1 đến 100, hoặc để trống" in bad.text
        ok = await client.post(
            f"/organizations/{district}/task-cap",
            data={"weekly_task_cap": "3"},
            headers=headers,
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert "tối đa 3 nhiệm vụ" in (await client.get(f"/organizations/{district}")).text
    async with AsyncTestClient(app=create_app(app.state.settings)) as other:
        await sign_in(other, "coordinator")
        headers = {"x-csrftoken": other.cookies["coordinator_csrf"]}
        page = (await other.get(f"/organizations/{district}")).text
        assert f"/organizations/{district}/task-cap" not in page
        refused = await other.post(
            f"/organizations/{district}/task-cap", data={"weekly_task_cap": "9"}, headers=headers
        )
        assert refused.status_code == 403
    async with db.read() as session:
        assert (await session.get(Member, world.member["d1"])) is not None
        assert (
            await organizations.get_organization(db, world.actor["admin"], district)
        ).weekly_task_cap == 3


async def test_lifting_the_cap_lets_a_relaunch_hand_out_what_was_held(world, deployment_cap):
    deployment_cap(1)
    first, second = await _campaign(world), await _campaign(world)
    await _launch(world, first, MONDAY)
    await _launch(world, second, MONDAY)
    deployment_cap(None)
    assert await _launch(world, second, MONDAY + timedelta(hours=1)) == 4
    assert await _members_of(world, HeldTask, second) == set()


async def test_the_status_page_says_how_many_were_held_back(world, deployment_cap):
    from coordinator.app import create_app
    from coordinator.settings import read_settings

    deployment_cap(1)
    first, second = await _campaign(world), await _campaign(world, share=50)
    await _launch(world, first, MONDAY)
    await _launch(world, second, MONDAY)
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "coordinator")
        page = (await client.get(f"/campaigns/{second}")).text
        # ceil(50 %) of the district's three and of the commune's one, all at their cap.
        assert "Đã giao 3 trên 4." in page and "Tạm giữ do giới hạn theo tuần: 3." in page
        assert "Huyện đoàn A" in page and "2 trên 3" in page
        assert 'id="fair-load"' not in (await client.get(f"/campaigns/{first}")).text


async def test_the_weekly_cap_reads_this_weeks_tasks_through_an_index(world):
    """The cap's week load filters on created_at (this week) or the campaign: with the index
    on created_at it reads those rows, not every assignment ever written (national history)."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql, sqlite

    week = fairload.week_of(datetime(2026, 12, 2, tzinfo=UTC), zone())
    rule = fairload.Rule(1, None, 3, False, week)
    statement = select(fairload._this_week(rule).c.member_id)
    dialect = postgresql.dialect() if world.db.dialect == "postgresql" else sqlite.dialect()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with world.db.read() as session:
        if world.db.dialect == "postgresql":
            await session.execute(text("SET LOCAL enable_seqscan = off"))  # as on a big table
            plan = "\n".join(r[0] for r in (await session.execute(text("EXPLAIN " + sql))).all())
        else:
            rows = (await session.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
            plan = "\n".join(str(r[-1]) for r in rows)
    assert "ix_assignment_created_at" in plan, plan
