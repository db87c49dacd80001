"""Campaign tallies counted in the database (the dashboards and exports grow from here).

Besides the statuses, a campaign reports how honest its reach is (`DeliveryFigures`):
- unreachable: recipients of the campaign's targets that Telegram will not let us reach now,
  counted once each: its tasks whose member (group chat) is marked unreachable (a send was
  refused for good: blocked, deactivated, chat not found, kicked), plus `unreachable_skipped`,
  the targeted members (groups) marked unreachable that a launch skipped and so have no task.
  Both are counted now: someone who comes back (`/start`) leaves the figure, and the next
  launch gives them their task. Before the first launch nobody has been skipped.
- resent: task messages sent a second time because the first send's outcome was unknown.
- uncertain: task messages whose send may or may not have reached Telegram, not resent (yet).
A counts-only audience sees any of these under five as "<5" (tallies/masked.py), and no rate.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns.launch import campaign_targets, targeted_groups, targeted_members
from coordinator.campaigns.models import ASSIGNMENT_STATUSES, Assignment, Campaign, Report
from coordinator.collation import vi_key
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage, resent_card, troubled_card
from coordinator.organizations.models import GroupChat, Member
from coordinator.tallies.laggards import behind, elapsed_share
from coordinator.tallies.models import ORGANIZATION_LINE
from coordinator.tallies.period import Counts, Line, recipient_columns, rolled_up
from coordinator.tallies.summary import by_status_of, organizations_and_clubs, summary_lines


@dataclass
class DeliveryFigures:
    """How many the campaign could not reach, or reached twice or maybe (module docstring)."""

    unreachable: int = 0  # tasks whose recipient is unreachable + unreachable_skipped
    unreachable_skipped: int = 0
    resent: int = 0
    uncertain: int = 0


DELIVERY_FIGURES = ("unreachable", "unreachable_skipped", "resent", "uncertain")


def resent_copy() -> Any:
    """An outbox row sent again after an uncertain send. The reaper marks it today with
    `"resent": true` in the payload (delivery/store.py `reap`); if that record moves, only this
    and `delivery.models.resent_card` change."""
    return OutboxMessage.payload["resent"].as_boolean().is_(True)


async def delivery_figures(
    session: AsyncSession,
    campaign: Campaign,
    within: frozenset[int] | set[int] | None = None,
    lines: Sequence[Any] | None = None,
) -> DeliveryFigures:
    """The campaign's `DeliveryFigures`; `within`: only recipients of these organizations.

    Nothing here reads rows in proportion to the campaign: the unreachable tasks come from the
    tally summary, the rest through partial indexes over the few troubled cards and the few
    unreachable members (migration 0019). `lines`: the campaign's summary lines, if read."""
    assert campaign.id is not None
    if lines is None:
        lines = (await session.execute(summary_lines([campaign.id]))).all()
    lost = sum(
        line[-1]  # unreachable, the last of summary.COUNT_COLUMNS
        for line in lines
        if line[2] == ORGANIZATION_LINE and (within is None or line[1] in within)
    )
    skipped = await _skipped_unreachable(session, campaign, within)
    resent, uncertain = await _troubled_cards(session, campaign, within)
    return DeliveryFigures(int(lost or 0) + skipped, skipped, resent, uncertain)


async def _troubled_cards(
    session: AsyncSession, campaign: Campaign, within: frozenset[int] | set[int] | None
) -> tuple[int, int]:
    """(resent, uncertain) task cards of the campaign, read from `ix_outbox_troubled`: the
    loop runs over the troubled cards, each checked against its task, never over the tasks."""
    dialect, outbox = session.get_bind().dialect.name, OutboxMessage.__tablename__
    org_col, _, join = recipient_columns(campaign.delivery_mode)
    stmt = (
        select(
            func.sum(case((text(resent_card(dialect, outbox)), 1), else_=0)),
            func.sum(case((col(OutboxMessage.status) == "uncertain", 1), else_=0)),
        )
        .select_from(OutboxMessage)
        .join(Assignment, col(Assignment.id) == OutboxMessage.assignment_id)
        .where(text(troubled_card(dialect, outbox)), col(Assignment.campaign_id) == campaign.id)
        .with_hint(OutboxMessage, "INDEXED BY ix_outbox_troubled", "sqlite")
    )
    if within is not None:
        stmt = stmt.join(*join).where(org_col.in_(within))
    resent, uncertain = (await session.execute(stmt)).one()
    return int(resent or 0), int(uncertain or 0)


async def _skipped_unreachable(
    session: AsyncSession, campaign: Campaign, within: frozenset[int] | set[int] | None
) -> int:
    """Targeted recipients marked unreachable that have no task: a launch passed them over."""
    if campaign.launched_at is None:
        return 0
    orgs, clubs = await campaign_targets(session, campaign.id or 0)
    if campaign.delivery_mode == "group":
        table: Any = GroupChat
        where = targeted_groups(orgs, clubs)
        task = exists().where(
            col(Assignment.campaign_id) == campaign.id,
            col(Assignment.group_chat_id) == GroupChat.id,
        )
    else:
        table = Member
        where = targeted_members(orgs, clubs)
        task = exists().where(
            col(Assignment.campaign_id) == campaign.id, col(Assignment.member_id) == Member.id
        )
    stmt = (
        select(func.count())
        .select_from(table)
        .where(*where, col(table.unreachable_at).is_not(None), ~task)
        # The loop runs over the unreachable members only (a province has 100,000 targeted).
        .with_hint(Member, "INDEXED BY ix_member_unreachable", "sqlite")
    )
    if within is not None:
        stmt = stmt.where(col(table.organization_id).in_(within))
    return int(await session.scalar(stmt) or 0)


@dataclass
class CampaignTally:
    campaign_id: int
    assigned: int
    by_status: dict[str, int]
    reports_by_action: dict[str, int] = field(default_factory=dict)
    median_minutes_to_acknowledge: float | None = None  # from delivery; None: nobody yet
    median_minutes_to_done: float | None = None
    quota_percent: int | None = None
    delivery: DeliveryFigures = field(default_factory=DeliveryFigures)

    @property
    def participation_rate(self) -> float:
        done = self.by_status.get("done", 0)
        return round(done / self.assigned, 4) if self.assigned else 0.0

    @property
    def quota_met(self) -> bool | None:
        """None when the campaign sets no quota."""
        if self.quota_percent is None:
            return None
        return self.participation_rate * 100 >= self.quota_percent


async def campaign_tally(db: Database, actor: Actor, campaign_id: int) -> CampaignTally:
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        by_status = dict.fromkeys(ASSIGNMENT_STATUSES, 0)
        for _, *counts in (await session.execute(by_status_of([campaign_id]))).all():
            by_status.update(zip(ASSIGNMENT_STATUSES, map(int, counts), strict=True))
        # Distinct members per action: one person pressing twice is one.
        actions = await session.execute(
            select(Report.action, func.count(func.distinct(Report.member_id)))
            .join(Assignment, col(Assignment.id) == Report.assignment_id)
            .where(Assignment.campaign_id == campaign_id, col(Report.content_item_id).is_(None))
            .group_by(Report.action)
        )
        times = (
            await session.execute(
                select(Assignment.delivered_at, Assignment.acknowledged_at, Assignment.done_at)
                .where(Assignment.campaign_id == campaign_id)
                .where(col(Assignment.delivered_at).is_not(None))
            )
        ).all()
        delivery = await delivery_figures(session, campaign)
    return CampaignTally(
        campaign_id,
        sum(by_status.values()),
        by_status,
        dict(actions.all()),
        _median_minutes([(d, a or done) for d, a, done in times]),
        _median_minutes([(d, done) for d, _, done in times]),
        campaign.quota_percent,
        delivery,
    )


def _median_minutes(pairs: Sequence[tuple[Any, Any]]) -> float | None:
    """Median minutes from the first moment to the second, over those who got that far (a
    press straight to Done counts its own time for both acknowledge and done)."""
    spans = [(later - first).total_seconds() / 60 for first, later in pairs if later and first]
    return round(statistics.median(spans), 1) if spans else None


async def progress_of(
    db: Database, actor: Actor, campaign_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Assignment counts by status for several campaigns in one query (the dashboard list):
    a lead's own reach, as on the status page."""
    if not campaign_ids:
        return {}
    visible = scope.campaigns(actor, select(Campaign.id).where(col(Campaign.id).in_(campaign_ids)))
    async with db.read() as session:
        rows = await session.execute(by_status_of(visible, policy.own_subtree(actor)))
    out: dict[int, dict[str, int]] = {}
    for campaign_id, *counts in rows.all():
        out[campaign_id] = dict(zip(ASSIGNMENT_STATUSES, map(int, counts), strict=True))
    for counts in out.values():
        counts["assigned"] = sum(counts[s] for s in ASSIGNMENT_STATUSES)
    return out


@dataclass
class Breakdown:
    """A campaign's status page: the definitions of `Counts` (tallies/period.py) per line.

    `by_organization` holds each organization's own tasks (the export's rows); `tree` the same
    organizations in tree order, each line rolled up over everything below it, and `direct`
    each organization's own tasks next to it, so a parent shows both."""

    total: Counts
    by_organization: list[Line]
    by_club: list[Line]
    laggards: set[int]  # organizations behind against the time elapsed (tallies/laggards.py)
    delivery: DeliveryFigures = field(default_factory=DeliveryFigures)
    tree: list[Line] = field(default_factory=list)
    direct: dict[int, Counts] = field(default_factory=dict)


async def campaign_breakdown(
    db: Database, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Breakdown:
    """Progress by organization and by club. Leads see only their own subtree's lines."""
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        lines = (await session.execute(summary_lines([campaign_id]))).all()
        named = (await session.execute(organizations_and_clubs())).all()
        own = policy.own_subtree(actor)
        delivery = await delivery_figures(session, campaign, own, lines)
    orgs = [row[:3] for row in named if row[3] is not None]
    clubs = [row[:3] for row in named if row[3] is None]
    org_names: dict[int, str] = {org_id: name for org_id, name, _ in orgs}
    club_org = {club_id: org_id for club_id, _, org_id in clubs}
    org_lines = [line for line in lines if line[2] == ORGANIZATION_LINE]
    by_org = _lines(org_lines, 1, org_names, lambda key: own is None or key in own)
    club_names = {club_id: name for club_id, name, _ in clubs}
    by_club = _lines(
        [line for line in lines if line[2] != ORGANIZATION_LINE],
        2,
        club_names,
        lambda key: own is None or club_org.get(key) in own,
    )
    total = Counts()
    for line in by_org:
        total.add(line.counts)
    direct = {line.key: line.counts for line in by_org}
    tree = [
        line
        for line in rolled_up([(o, n, p) for o, n, p in orgs], direct, own)
        if line.counts.assigned
    ]
    share = elapsed_share(campaign.launched_at, campaign.deadline_at, now or utcnow())
    running = campaign.status == "active"
    laggards = {
        line.key
        for line in tree
        if behind(line.counts.rate, share, campaign.quota_percent, running)
    }
    return Breakdown(total, by_org, by_club, laggards, delivery, tree, direct)


def _lines(
    rows: Sequence[Any], key_at: int, names: dict[int, str], keep: Callable[[int], bool]
) -> list[Line]:
    """Summary lines (tallies/summary.py) summed per the key in column `key_at`."""
    lines: dict[int, Line] = {}
    for row in rows:
        key, values = row[key_at], row[3:]
        if keep(key) and any(values):
            line = lines.setdefault(key, Line(key, names.get(key, str(key)), Counts()))
            line.counts.add(Counts.of_summary(values))
    return sorted(lines.values(), key=lambda line: vi_key(line.name))
