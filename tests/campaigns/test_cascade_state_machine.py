"""Random orders of launch (through organizations) / receive / pass on / can't / volunteers'
presses / close over the province → district → commune tree, by different focal points, on
the web and from Telegram, keep the invariants: one assignment per (campaign, member) and per
(campaign, group) and exactly those the pass-on choices asked for, whatever their order; one
organization task per (campaign, organization); a sub-organization's task only under a task
that passed on to sub-organizations; nothing new after close; a task's record only grows; and
the figures at every level of the tree equal a recount of the raw rows. Then the same pass-on
pressed concurrently (on PostgreSQL by sessions all waiting on the task at once)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, rule
from sqlalchemy import insert, text
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots import org_presses
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, CampaignTarget, OrganizationTask
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import (
    Club,
    FocalPoint,
    GroupChat,
    Member,
    MemberClub,
    Organization,
)
from tests.campaigns.machinery import (
    DatabaseMachine,
    check_tallies,
    deliver_pending,
    press_everything,
    run_machine,
)
from tests.conftest import BACKEND
from tests.factories import World, add_focal_point, build_world

TARGETS = [
    ("province",),
    ("district",),
    ("commune",),
    ("district", "district2"),
    ("province", "commune"),
]
# Focal point -> (their organization, Telegram id); the district has two.
FOCAL = {
    "fp": ("province", 7_100_001),
    "fda": ("district", 7_100_002),
    "fdb": ("district", 7_100_003),
    "fd2": ("district2", 7_100_004),
    "fc": ("commune", 7_100_005),
}
ORGS = ["province", "district", "district2", "commune"]
CHOICES = ["members", "clubs", "groups", "suborgs"]


async def add_cascade_world(world: World) -> None:
    """Focal points at every level, and group chats (one of them a club's) to pass on to."""
    for key, (org, telegram_id) in FOCAL.items():
        await add_focal_point(world, key, org, telegram_id)
    async with world.db.write() as session:
        for n, (org, club) in enumerate(
            [("district", None), ("district", "club"), ("district2", None), ("commune", None)]
        ):
            session.add(
                GroupChat(
                    telegram_chat_id=-7_000 - n,
                    title=f"Nhóm {org} {n}",
                    organization_id=world.org[org],
                    club_id=world.club[club] if club else None,
                )
            )


async def expected_recipients(db: Database) -> set[tuple[int, int | None, int | None]]:
    """(campaign, member, group) that the tasks' applied choices ask for, recounted here from
    the raw rows: eligible = active, linked, not opted out, reachable."""
    async with db.read() as session:
        tasks = (await session.scalars(select(OrganizationTask))).all()
        members = (await session.scalars(select(Member))).all()
        groups = (await session.scalars(select(GroupChat))).all()
        in_clubs = (
            await session.execute(
                select(MemberClub.member_id, Club.organization_id).join(
                    Club, col(Club.id) == MemberClub.club_id
                )
            )
        ).all()
    eligible = {
        m.id: m
        for m in members
        if m.deactivated_at is None
        and m.telegram_user_id is not None
        and m.opted_out_at is None
        and m.unreachable_at is None
    }
    out: set[tuple[int, int | None, int | None]] = set()
    for t in tasks:
        c, org = t.campaign_id, t.organization_id
        if "members" in t.passed_on_how:
            out |= {(c, m.id, None) for m in eligible.values() if m.organization_id == org}
        if "clubs" in t.passed_on_how:
            out |= {(c, m, None) for m, o in in_clubs if o == org and m in eligible}
        if "groups" in t.passed_on_how:
            out |= {
                (c, None, g.id)
                for g in groups
                if g.organization_id == org and g.unreachable_at is None
            }
    return out


def make_machine(template_url: str, workdir: Path):
    class CascadeMachine(DatabaseMachine):
        campaigns = Bundle("campaigns")

        @initialize()
        def start(self):
            self.open_database(template_url, workdir)
            self.world = self.run(build_world(self.db))
            self.run(add_cascade_world(self.world))
            self.closed: dict[int, tuple[set[int], set[int]]] = {}  # assignments, tasks
            self.seen: dict[int, OrganizationTask] = {}

        async def _task_id(self, campaign: int, org: str) -> int | None:
            async with self.db.read() as session:
                return await session.scalar(
                    select(OrganizationTask.id).where(
                        OrganizationTask.campaign_id == campaign,
                        OrganizationTask.organization_id == self.world.org[org],
                    )
                )

        @rule(target=campaigns, reach=st.sampled_from(TARGETS), twice=st.booleans())
        def launch(self, reach, twice):
            world = self.world
            campaign = self.run(world.campaign(targets=reach, mode="org"))
            for _ in range(2 if twice else 1):  # launching again adds nothing new
                self.run(campaigns.launch_campaign(world.db, world.actor["coordinator"], campaign))
            return campaign

        @rule(campaign=campaigns, focal=st.sampled_from(sorted(FOCAL)), org=st.sampled_from(ORGS))
        def receive(self, campaign, focal, org):
            self.run(self._step(campaign, focal, org, "received", "web"))

        @rule(
            campaign=campaigns,
            focal=st.sampled_from(sorted(FOCAL)),
            org=st.sampled_from(ORGS),
            choice=st.sampled_from(CHOICES),
            via=st.sampled_from(["web", "telegram"]),
        )
        def pass_on(self, campaign, focal, org, choice, via):
            """Mostly their own organization's task; another's is refused."""
            self.run(self._step(campaign, focal, org, choice, via))

        @rule(
            campaign=campaigns,
            org=st.sampled_from(ORGS),
            choices=st.lists(st.sampled_from(CHOICES), min_size=2, max_size=5),
        )
        def pass_on_together(self, campaign, org, choices):
            """Several presses at once by the organization's focal points (repeats included)."""
            focal = [k for k, (o, _) in FOCAL.items() if o == org]

            async def together():
                await asyncio.gather(
                    *(
                        self._step(campaign, focal[n % len(focal)], org, choice, "web")
                        for n, choice in enumerate(choices)
                    )
                )

            self.run(together())

        @rule(
            campaign=campaigns,
            focal=st.sampled_from(sorted(FOCAL)),
            org=st.sampled_from(ORGS),
            reason=st.sampled_from(["busy", "unfit", "other"]),
            via=st.sampled_from(["web", "telegram"]),
        )
        def cannot(self, campaign, focal, org, reason, via):
            self.run(self._step(campaign, focal, org, f"no:{reason}", via))

        async def _step(self, campaign: int, focal: str, org: str, step: str, via: str) -> None:
            task_id = await self._task_id(campaign, org)
            if task_id is None:
                return
            if via == "telegram":
                data = {"received": "rcv"}.get(step) or (
                    step if step.startswith("no:") else f"p:{step}"
                )
                async with self.db.write() as session:
                    await org_presses.press_in(
                        session, FOCAL[focal][1], f"o:{task_id}:{data}", utcnow(), "vi"
                    )
                return
            web_step = "decline" if step.startswith("no:") else step
            reason = step[3:] if step.startswith("no:") else ""
            await self.attempt(
                cascade_service.act(self.db, self.world.actor[focal], task_id, web_step, reason)
            )

        @rule(campaign=campaigns)
        def deliver(self, campaign):
            self.run(deliver_pending(self.db, campaign))

        @rule(
            key=st.sampled_from(["d1", "d2", "c1", "b_opted_out"]),
            action=st.sampled_from(["acknowledged", "done", "declined"]),
        )
        def press(self, key, action):
            self.run(press_everything(self.db, self.world.member[key], action))

        @rule(campaign=campaigns)
        def close(self, campaign):
            world = self.world
            closed = self.run(
                self.attempt(
                    campaigns.close_campaign(world.db, world.actor["coordinator"], campaign)
                )
            )
            if closed is not None and campaign not in self.closed:
                self.closed[campaign] = self.run(self._ids_of(campaign))

        async def _ids_of(self, campaign: int) -> tuple[set[int], set[int]]:
            async with self.db.read() as session:
                assignments = await session.scalars(
                    select(Assignment.id).where(Assignment.campaign_id == campaign)
                )
                tasks = await session.scalars(
                    select(OrganizationTask.id).where(OrganizationTask.campaign_id == campaign)
                )
                return set(assignments), set(tasks)

        @invariant()
        def invariants_hold(self):
            if hasattr(self, "db"):
                self.run(self._check())

        async def _check(self):
            async with self.db.read() as session:
                rows = (await session.scalars(select(Assignment))).all()
                tasks = (await session.scalars(select(OrganizationTask))).all()
                outbox = (await session.scalars(select(OutboxMessage))).all()
                targets = set(
                    (
                        await session.execute(
                            select(CampaignTarget.campaign_id, CampaignTarget.organization_id)
                        )
                    ).all()
                )
                parents = dict(
                    (await session.execute(select(Organization.id, Organization.parent_id))).all()
                )
                focal = set(
                    (
                        await session.execute(
                            select(FocalPoint.organization_id, FocalPoint.user_id)
                        )
                    ).all()
                )
            members = [(a.campaign_id, a.member_id) for a in rows if a.member_id]
            groups = [(a.campaign_id, a.group_chat_id) for a in rows if a.group_chat_id]
            assert len(members) == len(set(members)), "one assignment per (campaign, member)"
            assert len(groups) == len(set(groups)), "one assignment per (campaign, group)"
            got = {(a.campaign_id, a.member_id, a.group_chat_id) for a in rows}
            assert got == await expected_recipients(self.db), "what the choices asked for"
            per_assignment = Counter(o.assignment_id for o in outbox if o.assignment_id)
            assert all(per_assignment[a.id] == 1 for a in rows), "one card per assignment"
            self._check_tasks(tasks, targets, parents)
            cards = {o.dedupe_key for o in outbox if o.dedupe_key.startswith("orgtask:")}
            wanted = {
                f"orgtask:{t.id}:{u}" for t in tasks for o, u in focal if o == t.organization_id
            }
            assert cards == wanted, "each task sent once to each of its focal points"
            for campaign, frozen in self.closed.items():
                assert await self._ids_of(campaign) == frozen, "nothing new after close"
            await check_tallies(self.db, self.world.actor["admin"], rows)

        def _check_tasks(self, tasks, targets, parents) -> None:
            keys = [(t.campaign_id, t.organization_id) for t in tasks]
            assert len(keys) == len(set(keys)), "one task per (campaign, organization)"
            by_id = {t.id: t for t in tasks}
            for t in tasks:
                if t.parent_task_id is None:
                    assert (t.campaign_id, t.organization_id) in targets, "launched: a target"
                else:
                    up = by_id[t.parent_task_id]
                    assert "suborgs" in up.passed_on_how, "only under a pass-on to sub-orgs"
                    assert up.campaign_id == t.campaign_id
                    assert parents[t.organization_id] == up.organization_id
                assert (t.status == "passed_on") == bool(t.passed_on_how)
                before = self.seen.get(t.id)
                if before is not None:
                    assert set(before.passed_on_how) <= set(t.passed_on_how), "choices stay"
                    assert before.received_at in (None, t.received_at), "received once"
                    assert before.status == "pending" or t.status != "pending"
                    if before.decline_reason and t.status == "declined":
                        assert t.decline_reason == before.decline_reason, "first reason stays"
                self.seen[t.id] = t

    return CascadeMachine


def test_the_cascade_keeps_the_invariants_in_any_order(template_url, tmp_path):
    """COORDINATOR_PROPERTY_EXAMPLES=200 runs it longer (e.g. nightly)."""
    examples = int(os.environ.get("COORDINATOR_PROPERTY_EXAMPLES", "5"))
    run_machine(make_machine(template_url, tmp_path), examples, steps=20)


async def _waiting_on_locks(db: Database) -> int:
    async with db.read() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def test_the_same_pass_on_pressed_concurrently_gives_one_set(world):
    """Two focal points press the same choices at once, each press in its own session (its
    own engine); on PostgreSQL all of them are made to wait on the task together first."""
    await add_cascade_world(world)
    cid = await world.campaign(targets=("district",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task_id = await session.scalar(
            select(OrganizationTask.id).where(OrganizationTask.campaign_id == cid)
        )
    assert task_id is not None
    choices = ["members", "clubs", "groups"] * 3
    engines = [Database(world.db.url) for _ in choices]
    presses = [
        cascade_service.act(db, world.actor["fda" if n % 2 else "fdb"], task_id, choice)
        for n, (db, choice) in enumerate(zip(engines, choices, strict=True))
    ]
    try:
        if BACKEND == "postgres":
            async with world.db.write() as session:  # hold the task: every press queues behind
                await session.get(OrganizationTask, task_id, with_for_update=True)
                running = [asyncio.ensure_future(p) for p in presses]
                deadline = asyncio.get_running_loop().time() + 20
                while await _waiting_on_locks(world.db) < len(presses):
                    assert asyncio.get_running_loop().time() < deadline, "presses never queued"
                    await asyncio.sleep(0.02)
            outcomes = await asyncio.gather(*running)
        else:
            outcomes = await asyncio.gather(*presses)
    finally:
        for db in engines:
            await db.dispose()
    changed = Counter(choice for choice, o in zip(choices, outcomes, strict=True) if o.changed)
    assert changed == {"members": 1, "clubs": 1, "groups": 1}, "each choice applied once"
    async with world.db.read() as session:
        rows = (
            await session.execute(
                select(Assignment.member_id, Assignment.group_chat_id).where(
                    Assignment.campaign_id == cid
                )
            )
        ).all()
        task = await session.get(OrganizationTask, task_id)
    m = world.member
    assert sorted(r.member_id for r in rows if r.member_id) == sorted([m["d1"], m["d2"], m["d3"]])
    assert len([r for r in rows if r.group_chat_id]) == 2  # the district's and its club's
    assert task is not None and task.passed_on_how == ["members", "clubs", "groups"]
    assert set(await expected_recipients(world.db)) == {
        (cid, r.member_id, r.group_chat_id) for r in rows
    }


async def _until(check, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite's single writer runs them one by one")
async def test_a_pass_on_racing_the_close_leaves_nothing_open(world):
    """A pass-on still writing when the campaign closes: its assignments must end expired and
    their cards withdrawn, not queued to volunteers of a closed campaign. An uncommitted
    assignment of one of the members holds the pass-on mid-way while the close runs."""
    await add_cascade_world(world)
    cid = await world.campaign(targets=("district",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task_id = await session.scalar(
            select(OrganizationTask.id).where(OrganizationTask.campaign_id == cid)
        )
    engines = [Database(world.db.url) for _ in range(2)]
    try:
        async with world.db.engine.connect() as conn:
            held = await conn.begin()
            await conn.execute(
                insert(Assignment).values(
                    campaign_id=cid,
                    member_id=world.member["d1"],
                    status="pending",
                    created_at=utcnow(),
                )
            )
            passing = asyncio.ensure_future(
                cascade_service.act(engines[0], world.actor["fda"], task_id or 0, "members")
            )
            await _until(lambda: _waits(world.db, 1))
            closing = asyncio.ensure_future(
                campaigns.close_campaign(engines[1], world.actor["coordinator"], cid)
            )
            await _until(lambda: _closed_or_waiting(closing, world.db))
            await held.rollback()
        results = await asyncio.gather(passing, closing, return_exceptions=True)
    finally:
        for db in engines:
            await db.dispose()
    assert not any(isinstance(r, BaseException) for r in results), results
    async with world.db.read() as session:
        statuses = Counter(
            await session.scalars(select(Assignment.status).where(Assignment.campaign_id == cid))
        )
        cards = Counter(
            await session.scalars(
                select(OutboxMessage.status)
                .join(Assignment, col(Assignment.id) == OutboxMessage.assignment_id)
                .where(Assignment.campaign_id == cid)
            )
        )
    assert set(statuses) <= {"expired"}, statuses
    assert set(cards) <= {"cancelled"}, cards


async def _waits(db: Database, n: int) -> bool:
    return await _waiting_on_locks(db) >= n


async def _closed_or_waiting(closing: asyncio.Future, db: Database) -> bool:
    return closing.done() or await _waiting_on_locks(db) >= 2
