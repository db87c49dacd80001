"""Random orders of launch (through organizations) / receive / pass on / can't / volunteers'
presses / close over the province → district → commune tree, by different focal points, on
the web and from Telegram, keep the invariants: one assignment per (campaign, member) and per
(campaign, group) and exactly those the pass-on choices asked for, whatever their order; one
organization task per (campaign, organization); a sub-organization's task only under a task
that passed on to sub-organizations; nothing new after close; a task's record only grows; and
the figures at every level of the tree equal a recount of the raw rows. Concurrent presses:
test_cascade_concurrency.py."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, rule
from sqlmodel import select

from coordinator.base import utcnow
from coordinator.bots import org_presses
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, CampaignTarget, OrganizationTask
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import FocalPoint, Organization
from tests.campaigns.machinery import (
    FOCAL,
    DatabaseMachine,
    add_cascade_world,
    check_tallies,
    deliver_pending,
    expected_recipients,
    press_everything,
    run_machine,
)
from tests.factories import build_world

TARGETS = [
    ("province",),
    ("district",),
    ("commune",),
    ("district", "district2"),
    ("province", "commune"),
]
ORGS = ["province", "district", "district2", "commune"]
CHOICES = ["members", "clubs", "groups", "suborgs"]


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
