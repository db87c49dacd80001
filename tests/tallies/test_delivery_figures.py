"""The status page's delivery figures (resent, uncertain, unreachable and skipped), read through
the partial indexes of migration 0019, equal a plain recount over every outbox row, task and
member, whatever the outbox and the members went through; for a whole campaign and for a
lead's subtree alike."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update
from sqlmodel import col, select

from coordinator.campaigns import service as campaigns
from coordinator.campaigns.launch import campaign_targets
from coordinator.campaigns.models import Assignment, Campaign, Report
from coordinator.delivery.models import OUTBOX_STATUSES, OutboxMessage
from coordinator.organizations.models import GroupChat, Member, MemberClub
from coordinator.organizations.tree import subtree_ids
from coordinator.tallies.service import DeliveryFigures, delivery_figures
from tests.conftest import open_database
from tests.tallies.test_tally_summary import NOW, PEOPLE, _launched_world

OPERATIONS = st.one_of(
    st.tuples(st.just("status"), st.integers(0, 40), st.sampled_from(OUTBOX_STATUSES)),
    st.tuples(st.just("resent"), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("kind"), st.integers(0, 40), st.sampled_from(["assignment", "edit"])),
    st.tuples(st.just("unreachable"), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.just("group"), st.booleans()),
    st.tuples(st.just("drop"), st.integers(0, 40)),
    st.tuples(st.just("launch"), st.integers(0, 2)),
)


# Every figure above zero at least once: a resent card, an uncertain one, unreachable members
# with tasks, and unreachable members whose tasks went (skipped).
COVERING = [
    ("resent", 0, True),
    ("status", 1, "uncertain"),
    *(("unreachable", person, True) for person in PEOPLE),
    *(("drop", 2) for _ in range(6)),
]


async def _apply(db, world, ids, op) -> None:  # type: ignore[no-untyped-def]
    kind, *args = op
    if kind == "launch":  # gives tasks to members who became reachable again
        await campaigns.launch_campaign(db, world.actor["coordinator"], ids[args[0]], NOW)
        return
    async with db.write() as session:
        row = None
        if kind in ("status", "resent", "kind", "drop"):
            row = await session.scalar(
                select(OutboxMessage).order_by(col(OutboxMessage.id)).offset(args[0]).limit(1)
            )
            if row is None:
                return
        if kind == "status" and row is not None:
            row.status = args[1]
        elif kind == "resent" and row is not None:
            payload = {k: v for k, v in row.payload.items() if k != "resent"}
            row.payload = {**payload, "resent": True} if args[1] else payload
        elif kind == "kind" and row is not None:
            row.kind = args[1]
        elif kind == "drop" and row is not None and row.assignment_id is not None:
            # A task withdrawn from its recipient: an unreachable one now counts as skipped.
            task = row.assignment_id
            await session.execute(delete(Report).where(col(Report.assignment_id) == task))
            await session.execute(
                delete(OutboxMessage).where(col(OutboxMessage.assignment_id) == task)
            )
            await session.execute(delete(Assignment).where(col(Assignment.id) == task))
        elif kind == "unreachable":
            await session.execute(
                update(Member)
                .where(col(Member.id) == world.member[args[0]])
                .values(unreachable_at=NOW if args[1] else None)
            )
        elif kind == "group":
            await session.execute(
                update(GroupChat)
                .where(col(GroupChat.telegram_chat_id) == -901)
                .values(unreachable_at=NOW if args[0] else None)
            )


async def _recount(session: Any, campaign: Campaign, within: set[int] | None) -> DeliveryFigures:
    """Every row read and counted in Python: what the figures mean, without any index."""
    group = campaign.delivery_mode == "group"
    recipients: dict[int, tuple[int, bool]] = {}
    for rid, org, gone in await session.execute(
        select(GroupChat.id, GroupChat.organization_id, GroupChat.unreachable_at)
        if group
        else select(Member.id, Member.organization_id, Member.unreachable_at)
    ):
        recipients[rid] = (org, gone is not None)
    tasks = {
        task: recipients[group_chat if group else member]
        for task, member, group_chat in await session.execute(
            select(Assignment.id, Assignment.member_id, Assignment.group_chat_id).where(
                Assignment.campaign_id == campaign.id
            )
        )
    }
    tasks = {t: r for t, r in tasks.items() if within is None or r[0] in within}
    cards = [
        (payload.get("resent") is True, status == "uncertain")
        for kind, task, status, payload in await session.execute(
            select(
                OutboxMessage.kind,
                OutboxMessage.assignment_id,
                OutboxMessage.status,
                OutboxMessage.payload,
            )
        )
        if kind == "assignment" and task in tasks
    ]
    skipped = 0
    if campaign.launched_at is not None:
        skipped = await _skipped(session, campaign, group, within)
    lost = sum(gone for _, gone in tasks.values())
    return DeliveryFigures(
        lost + skipped, skipped, sum(r for r, _ in cards), sum(u for _, u in cards)
    )


async def _skipped(session: Any, campaign: Campaign, group: bool, within: set[int] | None) -> int:
    orgs, clubs = await campaign_targets(session, campaign.id or 0)
    given = set(
        await session.scalars(
            select(Assignment.group_chat_id if group else Assignment.member_id).where(
                Assignment.campaign_id == campaign.id
            )
        )
    )
    count = 0
    if group:
        for gid, org, club, gone in await session.execute(
            select(
                GroupChat.id, GroupChat.organization_id, GroupChat.club_id, GroupChat.unreachable_at
            )
        ):
            targeted = org in orgs or club in clubs
            count += targeted and gone is not None and gid not in given and _in(org, within)
        return count
    in_clubs = set(
        await session.scalars(
            select(MemberClub.member_id).where(col(MemberClub.club_id).in_(clubs))
        )
    )
    for m in await session.scalars(select(Member)):
        targeted = (m.organization_id in orgs or m.id in in_clubs) and m.telegram_user_id
        live = m.deactivated_at is None and m.opted_out_at is None
        gone = m.unreachable_at is not None
        count += bool(targeted and live and gone and m.id not in given) and _in(
            m.organization_id, within
        )
    return count


def _in(org: int, within: set[int] | None) -> bool:
    return within is None or org in within


async def _compare(db, world, ids, seen: set[str]) -> None:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        lead = await subtree_ids(session, [world.org["district"]])
        for campaign_id in ids:
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            for within in (None, lead):
                shown = await delivery_figures(session, campaign, within)
                assert shown == await _recount(session, campaign, within), (campaign_id, within)
                seen.update(name for name, value in vars(shown).items() if value)


def test_the_delivery_figures_equal_a_recount_after_any_outbox_changes(template_url, tmp_path):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    db = run(open_database(template_url, tmp_path))
    try:
        world, ids = run(_launched_world(db))
        seen: set[str] = set()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(OPERATIONS, min_size=1, max_size=10))
        @example(COVERING)
        def check(operations: list[tuple]) -> None:  # type: ignore[type-arg]
            for op in operations:
                run(_apply(db, world, ids, op))
            run(_compare(db, world, ids, seen))

        check()
        # The comparison was not only of zeros.
        assert seen == {"unreachable", "unreachable_skipped", "resent", "uncertain"}
    finally:
        run(db.dispose())
        loop.close()
