"""Random sequences of launches, relaunches, closes and weeks passing, with weekly caps (the
deployment's and an organization's) and shares, keep fair load's promises: nobody gets more
tasks in a week than their cap, every eligible member of a campaign is assigned or counted as
held (a share: exactly each organization's share of them), rotation asks nobody twice before
everyone in the organization was asked once, and the tallies still equal a recount."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import select

from coordinator.campaigns import fairload, sweeps
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign, HeldTask
from coordinator.clock import zone
from coordinator.db import Database
from coordinator.errors import DomainError
from coordinator.organizations import service as organizations
from coordinator.organizations.members import create_member
from coordinator.organizations.models import Member
from coordinator.settings import get_settings
from coordinator.tallies.summary import recount_summary
from tests import dbtools
from tests.conftest import BACKEND
from tests.factories import build_world

START = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
TARGETS = [("province",), ("district",), ("commune",), ("district", "district2")]
CAP_ENV = "COORDINATOR_WEEKLY_TASK_CAP"


def make_machine(template_url: str, workdir: Path):
    class FairLoadMachine(RuleBasedStateMachine):
        launched = Bundle("launched")

        @initialize(cap=st.sampled_from([None, 1, 2, 3]), commune_cap=st.sampled_from([None, 1]))
        def start(self, cap, commune_cap):
            self.loop = asyncio.new_event_loop()
            if BACKEND == "sqlite":
                path = workdir / "fair.db"
                shutil.copyfile(template_url.removeprefix("sqlite+aiosqlite:///"), path)
                url = f"sqlite+aiosqlite:///{path}"
            else:
                url = template_url
                self.run(dbtools.truncate_all(url))
            if cap is None:
                os.environ.pop(CAP_ENV, None)
            else:
                os.environ[CAP_ENV] = str(cap)
            get_settings.cache_clear()
            self.db = Database(url)
            self.world = self.run(build_world(self.db))
            self.run(self._more_members())
            self.caps = {"deployment": cap, "commune": commune_cap}
            if commune_cap is not None:
                self.run(
                    organizations.set_weekly_task_cap(
                        self.db, None, self.world.org["commune"], commune_cap
                    )
                )
            self.now = START
            self.shares: dict[int, int | None] = {}

        async def _more_members(self):
            admin = self.world.actor["admin"]
            for n, org in enumerate(["commune"] * 3 + ["district2"] * 2 + ["district"] * 2):
                m = await create_member(
                    self.db, admin, organization_id=self.world.org[org], display_name=f"M{n}"
                )
                async with self.db.write() as session:
                    (await session.get(Member, m.id)).telegram_user_id = 8_000_000 + n

        def run(self, coro):
            return self.loop.run_until_complete(coro)

        def teardown(self):
            if hasattr(self, "db"):
                self.run(self.db.dispose())
            self.loop.close()
            os.environ.pop(CAP_ENV, None)
            get_settings.cache_clear()

        async def _try(self, coro):
            try:
                return await coro
            except DomainError:
                return None

        @rule(
            target=launched,
            reach=st.sampled_from(TARGETS),
            share=st.sampled_from([None, 33, 50, 100]),
        )
        def launch(self, reach, share):
            world = self.world
            cid = self.run(
                world.campaign(
                    targets=reach, launch_at=self.now, deadline_at=self.now + timedelta(days=9)
                )
            )
            self.run(self._share(cid, share))
            self.run(campaigns.launch_campaign(self.db, world.actor["coordinator"], cid, self.now))
            self.shares[cid] = share
            return cid

        async def _share(self, cid, share):
            async with self.db.write() as session:
                (await session.get(Campaign, cid)).ask_share_percent = share

        @rule(campaign=launched)
        def relaunch(self, campaign):
            actor = self.world.actor["coordinator"]
            self.run(self._try(campaigns.launch_campaign(self.db, actor, campaign, self.now)))

        @rule(campaign=launched)
        def close(self, campaign):
            actor = self.world.actor["coordinator"]
            self.run(self._try(campaigns.close_campaign(self.db, actor, campaign, self.now)))

        @rule(hours=st.sampled_from([1, 30, 100, 170]))
        def time_passes(self, hours):
            self.now += timedelta(hours=hours)
            self.run(sweeps.sweep(self.db, self.now, zone()))

        async def _rows(self):
            async with self.db.read() as session:
                tasks = (
                    await session.execute(
                        select(Assignment.campaign_id, Assignment.member_id, Assignment.created_at)
                    )
                ).all()
                held = (
                    await session.execute(select(HeldTask.campaign_id, HeldTask.member_id))
                ).all()
                members = (
                    await session.execute(
                        select(Member.id, Member.organization_id).where(
                            Member.telegram_user_id.is_not(None),  # type: ignore[union-attr]
                            Member.opted_out_at.is_(None),  # type: ignore[union-attr]
                        )
                    )
                ).all()
            return tasks, held, dict(members)

        def _cap_of(self, org: int) -> int | None:
            caps = [self.caps["deployment"]]
            if org == self.world.org["commune"]:
                caps.append(self.caps["commune"])
            known = [c for c in caps if c is not None]
            return min(known) if known else None

        @invariant()
        def nobody_over_the_cap_in_a_week(self):
            if not hasattr(self, "db"):
                return
            tasks, _, members = self.run(self._rows())
            weeks = Counter(
                (m, fairload.week_of(at, zone())[0]) for _, m, at in tasks if m is not None
            )
            for (member, _week), n in weeks.items():
                cap = self._cap_of(members[member])
                assert cap is None or n <= cap, (member, n, cap)

        @invariant()
        def every_eligible_member_is_assigned_or_held(self):
            if not hasattr(self, "db"):
                return
            tasks, held, members = self.run(self._rows())
            asked = defaultdict(set)
            for cid, m in [(c, m) for c, m, _ in tasks if m is not None] + list(held):
                asked[cid].add(m)
            assigned = {(c, m) for c, m, _ in tasks}
            assert not any((c, m) in assigned for c, m in held)
            for cid, share in self.shares.items():
                eligible = self.run(self._targeted(cid, members))
                by_org = defaultdict(set)
                for m in eligible:
                    by_org[members[m]].add(m)
                for org, people in by_org.items():
                    got = asked[cid] & people
                    if share is None or share >= 100:
                        assert got == people, (cid, org)
                    else:
                        assert len(got) == math.ceil(len(people) * share / 100), (cid, org)

        async def _targeted(self, cid, members):
            from coordinator.campaigns.launch import campaign_targets

            async with self.db.read() as session:
                orgs, _ = await campaign_targets(session, cid)
            return {m for m, org in members.items() if org in orgs}

        @invariant()
        def rotation_asks_everyone_once_before_anyone_twice(self):
            if not hasattr(self, "db"):
                return
            tasks, held, members = self.run(self._rows())
            times = Counter(m for _, m, _ in tasks if m is not None)
            times.update(m for _, m in held)
            by_org = defaultdict(list)
            for m, org in members.items():
                by_org[org].append(times[m])
            for org, counts in by_org.items():
                assert max(counts) - min(counts) <= 1, (org, counts)

        @invariant()
        def tallies_equal_a_recount(self):
            if hasattr(self, "db"):
                assert not self.run(recount_summary(self.db)).drifted

    return FairLoadMachine


def test_fair_load_keeps_its_promises_in_any_order(template_url, tmp_path):
    """COORDINATOR_PROPERTY_EXAMPLES=500 runs it longer (e.g. nightly)."""
    machine = make_machine(template_url, tmp_path)
    examples = int(os.environ.get("COORDINATOR_PROPERTY_EXAMPLES", "20"))
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
