"""What the campaign state machines share: a fresh database per run on a loop of their own,
the sender's and the volunteers' steps, the tallies checked against a recount of the raw
rows at every level of the organization tree, and the cascade's world (focal points at every
level, group chats) with the assignments its pass-on choices ask for, recounted."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test
from sqlmodel import col, select, update

from coordinator.auth.scope import Actor
from coordinator.campaigns.models import Assignment, OrganizationTask
from coordinator.campaigns.reports import ReportRequest, record_report
from coordinator.campaigns.states import assignment_move
from coordinator.db import Database
from coordinator.errors import DomainError
from coordinator.organizations.models import Club, GroupChat, Member, MemberClub, Organization
from coordinator.tallies.service import campaign_breakdown, campaign_tally
from coordinator.tallies.summary import recount_summary
from tests import dbtools
from tests.conftest import BACKEND
from tests.factories import World, add_focal_point

T = TypeVar("T")


def machine_settings(examples: int, steps: int = 25) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class DatabaseMachine(RuleBasedStateMachine):
    """A machine whose rules run coroutines against a clean, migrated database (no rules)."""

    db: Database

    def open_database(self, template_url: str, workdir: Path) -> Database:
        self.loop = asyncio.new_event_loop()
        if BACKEND == "sqlite":
            path = workdir / "machine.db"
            shutil.copyfile(template_url.removeprefix("sqlite+aiosqlite:///"), path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            url = template_url
            self.run(dbtools.truncate_all(url))
        self.db = Database(url)
        return self.db

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.run(self.db.dispose())
            self.loop.close()

    @staticmethod
    async def attempt(coro: Awaitable[T]) -> T | None:
        """The step, or None when the service refused it (a refusal changes nothing)."""
        try:
            return await coro
        except DomainError:
            return None


async def deliver_pending(db: Database, campaign_id: int) -> None:
    """What the sender does once Telegram accepted the campaign's messages."""
    async with db.write() as session:
        await session.execute(
            update(Assignment)
            .where(col(Assignment.campaign_id) == campaign_id, col(Assignment.status) == "pending")
            .values(status="delivered")
        )


async def press_everything(db: Database, member_id: int, action: str) -> None:
    """The member presses `action` on every task they can see (their own and their groups');
    a press that counts moves the assignment as the state table says."""
    async with db.read() as session:
        assignments = (await session.scalars(select(Assignment))).all()
    for a in assignments:
        if a.member_id not in (None, member_id):
            continue
        before = a.status
        outcome = await DatabaseMachine.attempt(
            record_report(db, ReportRequest(a.id or 0, member_id, action))
        )
        if outcome is not None and a.member_id is not None:
            assert outcome.assignment_status == (assignment_move(before, action) or before)


async def recipient_organizations(db: Database) -> tuple[dict[int, int], dict[int, int]]:
    """(member -> organization, group chat -> organization): where a task counts."""
    async with db.read() as session:
        members = dict((await session.execute(select(Member.id, Member.organization_id))).all())
        groups = dict(
            (await session.execute(select(GroupChat.id, GroupChat.organization_id))).all()
        )
    return members, groups


async def check_tallies(
    db: Database, admin: Actor, rows: Iterable[Assignment], *, deep: bool = True
) -> None:
    """Each campaign's status figures equal a recount of the raw assignment rows; with
    `deep`, so does each organization's line of its tree, and the tally summary has not
    drifted (the slow part: about half again the machine's time on PostgreSQL)."""
    by_campaign: dict[int, list[Assignment]] = {}
    for a in rows:
        by_campaign.setdefault(a.campaign_id, []).append(a)
    for campaign_id, mine in by_campaign.items():
        tally = await campaign_tally(db, admin, campaign_id)
        recount = Counter(a.status for a in mine)
        assert {k: v for k, v in tally.by_status.items() if v} == dict(recount)
        assert tally.assigned == len(mine)
    if deep:
        await check_tree_tallies(db, admin, by_campaign)
        assert not (await recount_summary(db)).drifted, "the tally summary equals a recount"


async def check_tree_tallies(
    db: Database, admin: Actor, by_campaign: dict[int, list[Assignment]]
) -> None:
    """Each organization's line of each campaign's tree (everything below it included)
    counts the tasks of its whole subtree, recounted here from the raw rows."""
    member_org, group_org = await recipient_organizations(db)
    async with db.read() as session:
        tree = await session.execute(select(Organization.id, Organization.parent_id))
        parents = dict(tree.all())

    def ancestors(org: int | None) -> Iterable[int]:
        while org is not None:
            yield org
            org = parents[org]

    for campaign_id, mine in by_campaign.items():
        per_org: Counter[int] = Counter()
        done: Counter[int] = Counter()
        for a in mine:
            where = member_org[a.member_id] if a.member_id else group_org[a.group_chat_id or 0]
            for org in ancestors(where):
                per_org[org] += 1
                done[org] += a.status == "done"
        raw = await campaign_breakdown(db, admin, campaign_id)
        assert {line.key: line.counts.assigned for line in raw.tree} == dict(per_org)
        assert {line.key: line.counts.done for line in raw.tree} == {o: done[o] for o in per_org}
        assert raw.total.assigned == len(mine)


def run_machine(machine: type[RuleBasedStateMachine], examples: int, steps: int = 25) -> None:
    run_state_machine_as_test(machine, settings=machine_settings(examples, steps))


# Focal point -> (their organization, Telegram id); the district has two.
FOCAL = {
    "fp": ("province", 7_100_001),
    "fda": ("district", 7_100_002),
    "fdb": ("district", 7_100_003),
    "fd2": ("district2", 7_100_004),
    "fc": ("commune", 7_100_005),
}


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
