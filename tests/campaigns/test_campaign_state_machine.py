"""Random orders of launch / deliver / report / close / cancel / relaunch, and of submit /
approve / return for a party's campaigns, keep the invariants: one assignment per (campaign,
member), one outbox row per assignment, statuses never move backwards, the tally equals a
recount of the raw rows, and a party's campaign has assignments only once it was approved."""

import os
from collections import Counter
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, rule
from sqlmodel import select

from coordinator.campaigns import approvals
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Campaign, Report
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import GroupChat, Member
from tests.campaigns.machinery import (
    DatabaseMachine,
    check_tallies,
    deliver_pending,
    press_everything,
    run_machine,
)
from tests.factories import add_joint_agreement, build_world

RANK = {"pending": 0, "delivered": 1, "acknowledged": 2, "done": 3, "declined": 3, "expired": 3}
TARGETS = [("province",), ("district",), ("commune",), ("district2",), ("district", "commune")]


def make_machine(template_url: str, workdir: Path):
    class CampaignMachine(DatabaseMachine):
        campaigns = Bundle("campaigns")

        @initialize()
        def start(self):
            self.open_database(template_url, workdir)
            self.world = self.run(build_world(self.db))
            self.run(add_joint_agreement(self.world))
            self.run(self._add_groups())
            self.seen: dict[int, str] = {}
            self.joint: set[int] = set()
            self.approved: set[int] = set()

        async def _add_groups(self):
            async with self.db.write() as session:
                for n, key in enumerate(("district", "commune")):
                    session.add(
                        GroupChat(
                            telegram_chat_id=-500 - n,
                            title=key,
                            organization_id=self.world.org[key],
                        )
                    )

        @rule(
            target=campaigns,
            reach=st.sampled_from(TARGETS),
            mode=st.sampled_from(["dm", "dm", "group"]),
            launch_now=st.booleans(),
        )
        def create(self, reach, mode, launch_now):
            campaign = self.run(self.world.campaign(targets=reach, mode=mode))
            if launch_now:
                self.launch(campaign)
            return campaign

        @rule(campaign=campaigns)
        def launch(self, campaign):
            self.run(
                self.attempt(
                    campaigns.launch_campaign(self.db, self.world.actor["coordinator"], campaign)
                )
            )

        @rule(target=campaigns, reach=st.sampled_from(TARGETS[:1] + TARGETS[2:3]))
        def create_joint(self, reach):
            """A party's campaign under the joint agreement: it needs the lead's approval."""
            campaign = self.run(self.world.campaign(agreement="joint", targets=reach))
            self.joint.add(campaign)
            return campaign

        @rule(campaign=campaigns, move=st.sampled_from(["submit", "approve", "return"]))
        def review(self, campaign, move):
            world = self.world
            if move == "submit":
                call = approvals.submit_campaign(world.db, world.actor["coordinator"], campaign)
            elif move == "approve":
                call = approvals.approve_campaign(world.db, world.actor["joint_lead"], campaign)
            else:
                call = approvals.return_campaign(
                    world.db, world.actor["joint_lead"], campaign, "Sửa lại"
                )
            done = self.run(self.attempt(call))
            if done is not None and done.status == "approved":
                self.approved.add(campaign)
            if done is not None and done.status == "draft":
                self.approved.discard(campaign)

        @rule(campaign=campaigns, move=st.sampled_from(["close", "cancel"]))
        def finish(self, campaign, move):
            fn = campaigns.close_campaign if move == "close" else campaigns.cancel_campaign
            self.run(self.attempt(fn(self.db, self.world.actor["coordinator"], campaign)))

        @rule(key=st.sampled_from(["c_unlinked", "b_opted_out", "d2"]))
        def change_eligibility(self, key):
            async def work():
                async with self.db.write() as session:
                    member = await session.get(Member, self.world.member[key])
                    if member.telegram_user_id is None:
                        member.telegram_user_id = 9_000_000 + member.id
                    member.opted_out_at = None

            self.run(work())

        @rule(campaign=campaigns)
        def deliver(self, campaign):
            self.run(deliver_pending(self.db, campaign))

        @rule(
            key=st.sampled_from(["d1", "c1", "d2", "o1"]),
            action=st.sampled_from(["acknowledged", "done", "declined"]),
        )
        def report(self, key, action):
            self.run(press_everything(self.db, self.world.member[key], action))

        @invariant()
        def invariants_hold(self):
            if not hasattr(self, "db"):
                return
            self.run(self._check())

        async def _check(self):
            async with self.db.read() as session:
                rows = (await session.scalars(select(Assignment))).all()
                outbox = (await session.scalars(select(OutboxMessage))).all()
                reports = (await session.scalars(select(Report))).all()
                statuses = dict((await session.execute(select(Campaign.id, Campaign.status))).all())
            for campaign_id in self.joint:
                if statuses[campaign_id] in ("scheduled", "active", "closed"):
                    assert campaign_id in self.approved, "a party's campaign runs only if approved"
            assert not {a.campaign_id for a in rows} & (self.joint - self.approved)
            keys = [(a.campaign_id, a.member_id, a.group_chat_id) for a in rows]
            assert len(keys) == len(set(keys)), "one assignment per (campaign, recipient)"
            per_assignment = Counter(o.assignment_id for o in outbox)
            assert all(per_assignment[a.id] == 1 for a in rows), "one outbox row per assignment"
            report_keys = [
                (r.assignment_id, r.member_id, r.content_item_id, r.action) for r in reports
            ]
            assert len(report_keys) == len(set(report_keys)), "one report per step"
            for a in rows:
                assert RANK[a.status] >= RANK[self.seen.get(a.id, "pending")], "no step backwards"
                if a.id in self.seen and self.seen[a.id] in ("done", "declined", "expired"):
                    assert a.status == self.seen[a.id], "final stays final"
                self.seen[a.id] = a.status
            await check_tallies(self.db, self.world.actor["admin"], rows, deep=False)

    return CampaignMachine


def test_it_keeps_the_invariants_in_any_order(template_url, tmp_path):
    """COORDINATOR_PROPERTY_EXAMPLES=500 runs it longer (e.g. nightly)."""
    examples = int(os.environ.get("COORDINATOR_PROPERTY_EXAMPLES", "25"))
    run_machine(make_machine(template_url, tmp_path), examples)
