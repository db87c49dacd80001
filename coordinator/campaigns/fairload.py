"""Fair load: the weekly cap on tasks per volunteer and a campaign's rotating share of each
organization's members, as SQL pieces for the one place member assignments are written
(`launch.member_assignments`).

- The cap: at most N tasks per volunteer per ISO week, local time (`COORDINATOR_WEEKLY_TASK_CAP`
  for the deployment, `Organization.weekly_task_cap` for its own members; the smaller wins).
  A task counts in the week its assignment was written.
- Tasks beyond the cap wait, they are not handed to someone else: a `HeldTask` row per held
  volunteer, which no tally counts (it is not an assignment), shown on the status page and
  turned into an assignment by the scheduler once the week turns over while the campaign runs
  (`release_due`). Handing the task to another member instead would break the rotation below
  and ask the same willing few more often, which is what the cap is there to stop.
- The share: a campaign may ask only P % of each organization's members (rounded up), those
  asked least often first, then least recently, then by id: deterministic, and since everyone
  is asked once before anyone twice, the same people are not asked every time. A held task is
  an ask (the volunteer will get it). A second pass over the same campaign tops the share up
  rather than asking a new share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, literal, or_, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.base import UTCDateTime
from coordinator.campaigns.models import Assignment, Campaign, HeldTask
from coordinator.clock import zone
from coordinator.db import upsert_insert
from coordinator.organizations.models import Member, Organization
from coordinator.settings import get_settings

_LOCK = 1_402_207  # pg_advisory_xact_lock key: capped writes take turns (read committed)


def week_of(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 to the next, local time) holding `moment`, in UTC."""
    local = moment.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class Rule:
    """What fair load asks of one pass of assignments."""

    campaign_id: int
    share: int | None  # percent of each organization's members to ask; None: all
    deployment_cap: int | None
    organization_caps: bool  # some organization sets its own cap
    week: tuple[datetime, datetime]

    @property
    def capped(self) -> bool:
        return self.deployment_cap is not None or self.organization_caps


async def rule_for(
    session: AsyncSession, campaign_id: int, now: datetime, *, rotate: bool = True
) -> Rule:
    """The rule for this campaign now; `rotate` False: no share (the members were chosen)."""
    share = None
    if rotate:
        share = await session.scalar(
            select(Campaign.ask_share_percent).where(Campaign.id == campaign_id)
        )
    some_cap = await session.scalar(
        select(Organization.id).where(col(Organization.weekly_task_cap).is_not(None)).limit(1)
    )
    return Rule(
        campaign_id,
        share if share is not None and share < 100 else None,
        get_settings().weekly_task_cap,
        some_cap is not None,
        week_of(now, zone()),
    )


async def take_turns(session: AsyncSession) -> None:
    """Capped writes one at a time: two launches reading the same week's counts at once could
    each add the task that reaches the cap. SQLite's single writer takes turns already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))


def chosen(rule: Rule, candidates: tuple[Any, ...]) -> tuple[Any, ...]:
    """Conditions on `Member` for those asked in this pass: the candidates, or with a share,
    each organization's turn of them (`_turns`)."""
    if rule.share is None:
        return candidates
    return (col(Member.id).in_(_turns(rule, candidates)),)


def _turns(rule: Rule, candidates: tuple[Any, ...]) -> Any:
    """Per organization, ceil(share x candidates) minus those already asked for this campaign,
    taken from the others by fewest asks, then oldest last ask, then id (window functions)."""
    c = rule.campaign_id
    # Correlated EXISTS on the unique keys, not a join to a UNION: SQLite gives a UNION no
    # index and would scan it once per member (quadratic on a relaunch).
    asked_here = or_(
        exists().where(col(Assignment.campaign_id) == c, col(Assignment.member_id) == Member.id),
        exists().where(col(HeldTask.campaign_id) == c, col(HeldTask.member_id) == Member.id),
    )
    asks = union_all(
        select(
            col(Assignment.member_id).label("member_id"), col(Assignment.created_at).label("at")
        ).where(col(Assignment.member_id).is_not(None)),
        select(HeldTask.member_id, HeldTask.held_at),
    ).subquery("asks")
    history = (
        select(asks.c.member_id, func.count().label("times"), func.max(asks.c.at).label("last"))
        .group_by(asks.c.member_id)
        .subquery("history")
    )
    here = case((asked_here, 1), else_=0)
    org = col(Member.organization_id)
    ranked = (
        select(  # type: ignore[call-overload]
            col(Member.id).label("id"),
            here.label("here"),
            func.count().over(partition_by=org).label("total"),
            func.sum(here).over(partition_by=org).label("already"),
            func.row_number()
            .over(
                partition_by=(org, here),
                order_by=(func.coalesce(history.c.times, 0), history.c.last, col(Member.id)),
            )
            .label("turn"),
        )
        .select_from(Member)
        .outerjoin(history, history.c.member_id == Member.id)
        .where(*candidates)
        .subquery("ranked")
    )
    wanted = (ranked.c.total * rule.share + 99) // 100
    return select(ranked.c.id).where(ranked.c.here == 0, ranked.c.turn <= wanted - ranked.c.already)


def _cap(rule: Rule) -> Any:
    """Each member's cap: the smaller of their organization's and the deployment's."""
    own = col(Organization.weekly_task_cap)
    if rule.deployment_cap is None:
        return own
    if not rule.organization_caps:
        return literal(rule.deployment_cap)
    return case((own < rule.deployment_cap, own), else_=literal(rule.deployment_cap))


def _this_week(rule: Rule) -> Any:
    """Per member: tasks written this week, and whether one is of this campaign (any week)."""
    start, end = rule.week
    in_week = and_(col(Assignment.created_at) >= start, col(Assignment.created_at) < end)
    mine = col(Assignment.campaign_id) == rule.campaign_id
    return (
        select(
            col(Assignment.member_id).label("member_id"),
            func.sum(case((in_week, 1), else_=0)).label("tasks"),
            func.max(case((mine, 1), else_=0)).label("mine"),
        )
        .where(col(Assignment.member_id).is_not(None), or_(in_week, mine))
        .group_by(col(Assignment.member_id))
        .subquery("this_week")
    )


def with_load(statement: Any, rule: Rule) -> tuple[Any, Any, Any, Any]:
    """`statement` (a SELECT from Member) joined to its organization's cap and this week's
    load: returns it with (tasks this week, whether this campaign's is among them, cap)."""
    week = _this_week(rule)
    joined = (
        statement.select_from(Member)
        .join(Organization, col(Organization.id) == Member.organization_id)
        .outerjoin(week, week.c.member_id == Member.id)
    )
    return joined, func.coalesce(week.c.tasks, 0), func.coalesce(week.c.mine, 0), _cap(rule)


def under_cap(statement: Any, rule: Rule) -> Any:
    joined, tasks, _, cap = with_load(statement, rule)
    return joined.where(or_(cap.is_(None), tasks < cap))


async def hold(session: AsyncSession, rule: Rule, asked: tuple[Any, ...], now: datetime) -> None:
    """Those asked who are at their cap and have no task of this campaign wait (`HeldTask`)."""
    rows, tasks, mine, cap = with_load(
        select(literal(rule.campaign_id), Member.id, literal(now, UTCDateTime())), rule
    )
    statement = upsert_insert(session)(HeldTask).from_select(
        ["campaign_id", "member_id", "held_at"],
        rows.where(*asked, mine == 0, cap.is_not(None), tasks >= cap),
    )
    await session.execute(
        statement.on_conflict_do_nothing(index_elements=["campaign_id", "member_id"])
    )


async def settle(session: AsyncSession, campaign_id: int) -> None:
    """A held task whose volunteer now has the assignment is held no more."""
    waiting = select(HeldTask.member_id).where(HeldTask.campaign_id == campaign_id).limit(1)
    if await session.scalar(waiting) is None:
        return
    assigned = select(Assignment.member_id).where(
        Assignment.campaign_id == campaign_id, col(Assignment.member_id).is_not(None)
    )
    await session.execute(
        HeldTask.__table__.delete().where(  # type: ignore[attr-defined]
            HeldTask.campaign_id == campaign_id, col(HeldTask.member_id).in_(assigned)
        )
    )
