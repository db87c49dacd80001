"""A big first launch on PostgreSQL, written in parts side by side.

One INSERT of 900,000 tasks runs on one core for 20 s or more, half of it the foreign-key
checks PostgreSQL makes row by row (docs/benchmarks.md, "National launch"). Split by the
members' organizations, the parts run in transactions of their own, `launch_workers` at a
time, on as many cores. Each part is all or nothing. The campaign turns active and its task
cards are queued in one last transaction (`lifecycle.launch_campaign`), so a crash part-way
leaves the campaign as it was with the parts' tasks inert (nothing sends, reminds or counts a
report for a task of a campaign that is not active), and the next launch writes the rest: the
unique key skips what is there, `launch.drop_leftovers` what the campaign no longer wants.

Parts by organization, not by id range: a task's tally summary line is its member's
organization's, so the parts lock disjoint lines and never wait for each other, and fair
load's share is taken per organization, so each part asks whom the whole launch would ask.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.campaigns import fairload
from coordinator.campaigns.launch import (
    campaign_targets,
    eligible_members,
    member_assignments,
)
from coordinator.campaigns.models import Campaign
from coordinator.db import Database, in_ids
from coordinator.organizations.models import Member
from coordinator.settings import get_settings

logger = logging.getLogger(__name__)

PARTS_PER_WORKER = 4  # smaller parts even out organizations of different sizes
LAUNCHABLE = ("draft", "approved", "scheduled")  # a part of anything else writes nothing


@dataclass(frozen=True)
class Split:
    """How a launch is written: the campaign's targets and the organizations of each part."""

    orgs: set[int]
    clubs: set[int]
    parts: list[list[int]]
    members: int  # eligible when planned


def balanced(weights: dict[int, int], most: int) -> list[list[int]]:
    """The keys in at most `most` parts of about equal total weight: heaviest first, each to
    the lightest part so far (no part ends above the mean by more than its heaviest key)."""
    bins: list[tuple[int, int, list[int]]] = [(0, i, []) for i in range(min(most, len(weights)))]
    for key, weight in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
        load, i, keys = heapq.heappop(bins)
        keys.append(key)
        heapq.heappush(bins, (load + weight, i, keys))
    return [sorted(keys) for _, _, keys in sorted(bins, key=lambda b: b[1])]


def may_split(campaign: Campaign) -> bool:
    """Whether this launch could be written in parts (on PostgreSQL, the caller's check): not
    a launch again (it writes only who became eligible since), not in group or organization
    mode."""
    return (
        get_settings().launch_workers > 1
        and campaign.delivery_mode == "dm"
        and campaign.status in LAUNCHABLE
    )


async def plan(session: AsyncSession, campaign: Campaign, now: datetime) -> Split | None:
    """The parts of a launch that `may_split`, or None for one transaction: under a weekly
    cap (capped writes take turns anyway, `fairload.take_turns`) or to a small audience."""
    assert campaign.id is not None
    if (await fairload.rule_for(session, campaign.id, now)).capped:
        return None
    orgs, clubs = await campaign_targets(session, campaign.id)
    counts = (
        await session.execute(
            select(Member.organization_id, func.count())
            .where(*eligible_members(orgs, clubs))
            .group_by(col(Member.organization_id))
        )
    ).all()
    weights = {int(org): int(n) for org, n in counts}
    members = sum(weights.values())
    settings = get_settings()
    if members < settings.launch_split_from:
        return None
    parts = balanced(weights, settings.launch_workers * PARTS_PER_WORKER)
    return Split(orgs, clubs, parts, members)


async def write(db: Database, campaign_id: int, split: Split, now: datetime) -> int:
    """Write the parts, `launch_workers` at a time, each in its own transaction; return the
    tasks written. The first failure cancels the parts not done and is raised."""
    gate = asyncio.Semaphore(get_settings().launch_workers)
    done = 0

    async def part(orgs: list[int]) -> int:
        nonlocal done
        async with gate:
            created = await db.transaction(
                lambda session: _write_part(session, campaign_id, split, orgs, now)
            )
        done += 1
        logger.info(
            "campaign %s launch: part %d/%d done (%d organizations, %d tasks)",
            campaign_id,
            done,
            len(split.parts),
            len(orgs),
            created,
        )
        return created

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(part(orgs)) for orgs in split.parts]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return sum(task.result() for task in tasks)


async def _write_part(
    session: AsyncSession, campaign_id: int, split: Split, orgs: list[int], now: datetime
) -> int:
    """One part's tasks, if the campaign may still launch. Read FOR SHARE: a cancel (or an
    edit) waits for the parts running, and the parts after it see it and write nothing."""
    status = await session.scalar(
        select(Campaign.status).where(col(Campaign.id) == campaign_id).with_for_update(read=True)
    )
    if status not in LAUNCHABLE:
        return 0
    candidates = (
        *eligible_members(split.orgs, split.clubs),
        in_ids(session, col(Member.organization_id), orgs),
    )
    return await member_assignments(session, campaign_id, candidates, now)
