"""Set-based materialization of a campaign's assignments and outbox rows (100,000 in one go)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select, update

from coordinator.base import UTCDateTime
from coordinator.campaigns import fairload
from coordinator.campaigns.models import Assignment, Campaign, CampaignTarget, HeldTask
from coordinator.clock import zone
from coordinator.db import upsert_insert
from coordinator.delivery import backlog
from coordinator.delivery.backlog import queue_launch_cards
from coordinator.delivery.queue import queue_cards
from coordinator.organizations.models import GroupChat, Member, MemberClub
from coordinator.organizations.tree import subtree_ids


async def campaign_targets(session: AsyncSession, campaign_id: int) -> tuple[set[int], set[int]]:
    """(organizations, clubs) the campaign targets, each organization with its whole subtree."""
    rows = (
        await session.execute(
            select(CampaignTarget.organization_id, CampaignTarget.club_id).where(
                CampaignTarget.campaign_id == campaign_id
            )
        )
    ).all()
    orgs = await subtree_ids(session, [o for o, _ in rows if o is not None])
    return orgs, {c for _, c in rows if c is not None}


def targeted_members(orgs: set[int], clubs: set[int]) -> tuple[Any, ...]:
    """Members a DM campaign is for: active, linked to Telegram, not opted out, in a target."""
    in_club = select(MemberClub.member_id).where(col(MemberClub.club_id).in_(clubs))
    return (
        or_(col(Member.organization_id).in_(orgs), col(Member.id).in_(in_club)),
        col(Member.deactivated_at).is_(None),
        col(Member.telegram_user_id).is_not(None),
        col(Member.opted_out_at).is_(None),
    )


def eligible_members(orgs: set[int], clubs: set[int]) -> tuple[Any, ...]:
    """Who receives a DM campaign: the targeted members Telegram still lets us reach. An
    unreachable member is skipped until they come back (`onboarding.came_back`)."""
    return (*targeted_members(orgs, clubs), col(Member.unreachable_at).is_(None))


def targeted_groups(orgs: set[int], clubs: set[int]) -> tuple[Any, ...]:
    """Group chats a group-mode campaign is for: those of a targeted organization or club."""
    return (or_(col(GroupChat.organization_id).in_(orgs), col(GroupChat.club_id).in_(clubs)),)


def eligible_groups(orgs: set[int], clubs: set[int]) -> tuple[Any, ...]:
    """Which group chats receive a group-mode campaign: reachable ones of a target."""
    return (*targeted_groups(orgs, clubs), col(GroupChat.unreachable_at).is_(None))


async def audience(session: AsyncSession, campaign: Campaign) -> tuple[int, int]:
    """(volunteers, group chats) a launch would reach now, for the confirmation question."""
    assert campaign.id is not None
    orgs, clubs = await campaign_targets(session, campaign.id)
    members = select(func.count()).select_from(Member).where(*eligible_members(orgs, clubs))
    groups = select(func.count()).select_from(GroupChat).where(*eligible_groups(orgs, clubs))
    if campaign.delivery_mode == "group":
        return 0, int(await session.scalar(groups) or 0)
    return int(await session.scalar(members) or 0), 0


async def write_assignments(
    session: AsyncSession, campaign: Campaign, now: datetime, *, first: bool = False
) -> int:
    """Insert the missing assignments and their task cards; return how many were new.
    `first`: the campaign's first launch, whose cards are those of all its tasks (an
    interrupted launch may have written some, `drop_leftovers`)."""
    assert campaign.id is not None
    orgs, clubs = await campaign_targets(session, campaign.id)
    kind = "group" if campaign.delivery_mode == "group" else "dm"
    return await assign(session, campaign.id, kind, orgs, clubs, now, first=first)


async def drop_leftovers(session: AsyncSession, campaign: Campaign) -> int:
    """Before a first launch: of the tasks an interrupted launch wrote (in parts,
    `launch_parts`; inert, as nothing acts on a task of a campaign that is not active), those
    the campaign would no longer write go: all of them in group or organization mode, else
    the members no longer eligible (targets changed, a member opted out). Returns how many."""
    assert campaign.id is not None
    mine = col(Assignment.campaign_id) == campaign.id
    if await session.scalar(select(Assignment.id).where(mine).limit(1)) is None:
        return 0
    stale: Any = col(Assignment.member_id).is_not(None)
    if campaign.delivery_mode == "dm":
        orgs, clubs = await campaign_targets(session, campaign.id)
        eligible = select(Member.id).where(*eligible_members(orgs, clubs))
        stale = and_(stale, col(Assignment.member_id).not_in(eligible))
    return _rowcount(await session.execute(delete(Assignment).where(mine, stale)))


async def assign(
    session: AsyncSession,
    campaign_id: int,
    kind: str,
    orgs: set[int],
    clubs: set[int],
    now: datetime,
    *,
    only_these: bool = False,
    first: bool = False,
) -> int:
    """The assignments of these organizations and clubs, by DM (`dm`) or group chat, and their
    task cards: the first `backlog.CARD_CHUNK` in this transaction, the rest queued by the
    senders (`backlog.top_up`). `only_these`: queue cards for these recipients only, all now
    (a pass-on hands out one organization's part of a campaign). `first`: a first launch,
    which queues the cards of all the campaign's tasks, not only of those written now."""
    # A launch's new tasks get ids above this; a pass-on queues its cards at once without it.
    before = 0 if only_these or first else await _last_task(session)
    if kind == "group":
        created = await _insert_group_assignments(session, campaign_id, orgs, clubs, now)
        chat, of_task = _group_chat()
        these = col(Assignment.group_chat_id).in_(
            select(GroupChat.id).where(*eligible_groups(orgs, clubs))
        )
    else:
        created = await _insert_member_assignments(session, campaign_id, orgs, clubs, now)
        chat, of_task = _member_chat()
        members = select(Member.id).where(*eligible_members(orgs, clubs))
        these = col(Assignment.member_id).in_(members)
    if created and only_these:
        where = and_(col(Assignment.campaign_id) == campaign_id, of_task, these)
        await queue_cards(session, col(Assignment.id), chat, where, now)
    elif created or first:
        await queue_pending_cards(session, campaign_id, kind, before, now)
    return created


async def queue_pending_cards(
    session: AsyncSession, campaign_id: int, kind: str, before: int, now: datetime
) -> None:
    """The cards of the campaign's pending tasks with ids above `before` (0: all of them, as
    at a first launch): the first chunk now, the rest as a backlog. The first such task is
    found on the (campaign, status, id) index, however many other tasks the table holds."""
    first = await session.scalar(
        select(func.min(Assignment.id)).where(
            col(Assignment.campaign_id) == campaign_id,
            col(Assignment.status) == "pending",
            col(Assignment.id) > before,
        )
    )
    if first is not None:
        last = await _last_task(session)
        await queue_launch_cards(session, campaign_id, kind, int(first) - 1, last, now)


async def _last_task(session: AsyncSession) -> int:
    """The largest task id (the primary key's last entry): the tasks a statement writes after
    this read get larger ids, so (before, after] holds them all (and maybe others' tasks, which
    the card source's campaign filter leaves out, and ids PostgreSQL spent on rows the unique
    key skipped: a launch again starts its cards at its first new task)."""
    return int(await session.scalar(select(func.max(Assignment.id))) or 0)


def _cards_of(kind: str) -> backlog.CardSource:
    """The task cards a campaign's tasks of this kind still need: pending tasks (a task that
    moved on before its chunk was queued, e.g. expired, needs none), each to its chat."""

    def source(campaign_id: int) -> tuple[Any, Any, Any]:
        chat, of_task = _group_chat() if kind == "group" else _member_chat()
        mine = col(Assignment.campaign_id) == campaign_id
        return col(Assignment.id), chat, and_(mine, col(Assignment.status) == "pending", of_task)

    return source


for _kind in ("dm", "group"):
    backlog.card_source(_kind, _cards_of(_kind))


# A task's chat as a joined column, not a correlated subquery: PostgreSQL evaluated that
# subquery twice per card (once for the column, once more as the key of the `bot_chat` join),
# 14 % of the outbox insert's CPU at 100,000 cards. The recipient's foreign key makes the
# inner join keep every task.
def _member_chat() -> tuple[Any, Any]:
    return col(Member.telegram_user_id), col(Member.id) == col(Assignment.member_id)


def _group_chat() -> tuple[Any, Any]:
    return col(GroupChat.telegram_chat_id), col(GroupChat.id) == col(Assignment.group_chat_id)


async def _insert_member_assignments(
    session: AsyncSession, campaign_id: int, orgs: set[int], clubs: set[int], now: datetime
) -> int:
    """One per eligible member not yet assigned, under fair load."""
    return await member_assignments(session, campaign_id, eligible_members(orgs, clubs), now)


async def member_assignments(
    session: AsyncSession,
    campaign_id: int,
    candidates: tuple[Any, ...],
    now: datetime,
    *,
    rotate: bool = True,
) -> int:
    """The one place member assignments are written: one per candidate (conditions on
    `Member`) not yet assigned, under fair load (`fairload`): with a share, each
    organization's turn of them; with a cap, those at it wait as held tasks. Held first:
    with a share, the turn computed again for the assignments is then the same turn minus
    the held (they count as asked), so both statements agree without a temporary table."""
    rule = await fairload.rule_for(session, campaign_id, now, rotate=rotate)
    asked = fairload.chosen(rule, candidates)
    rows = select(literal(campaign_id), Member.id, literal("pending"), literal(now, UTCDateTime()))
    if rule.capped:
        await fairload.take_turns(session)
        await fairload.hold(session, rule, asked, now)
        rows = fairload.under_cap(rows, rule)
    # Without a share or a cap, `chosen` is the candidates: the launch as it always was.
    created = await _insert_missing(
        session, rows.where(*fairload.chosen(rule, candidates)), "member_id"
    )
    await fairload.settle(session, campaign_id)  # e.g. held, then the cap was lifted
    return created


async def release_held(session: AsyncSession, campaign_id: int, now: datetime) -> int:
    """Held tasks of a running campaign become assignments for the volunteers now under
    their cap (a new week), with their task cards; the others wait for the next week. The
    campaign is read again under FOR SHARE: a close between the sweep's read and this write
    waits for it (and then expires what it assigned), or is seen here and nothing goes out."""
    campaign = await session.get(
        Campaign, campaign_id, with_for_update={"read": True}, populate_existing=True
    )
    if campaign is None or campaign.status != "active" or campaign.deadline_at <= now:
        return 0
    held = select(HeldTask.member_id).where(HeldTask.campaign_id == campaign_id)
    candidates = (
        col(Member.id).in_(held),
        col(Member.deactivated_at).is_(None),
        col(Member.telegram_user_id).is_not(None),
        col(Member.opted_out_at).is_(None),
        col(Member.unreachable_at).is_(None),
    )
    created = await member_assignments(session, campaign_id, candidates, now, rotate=False)
    if created:
        chat, of_task = _member_chat()
        mine = col(Assignment.campaign_id) == campaign_id
        await queue_cards(
            session,
            col(Assignment.id),
            chat,
            and_(mine, col(Assignment.created_at) == now, of_task),
            now,
        )
    start, _ = fairload.week_of(now, zone())
    await session.execute(
        update(HeldTask)
        .where(col(HeldTask.campaign_id) == campaign_id, col(HeldTask.held_at) < start)
        .values(held_at=now)
    )
    return created


async def _insert_group_assignments(
    session: AsyncSession, campaign_id: int, orgs: set[int], clubs: set[int], now: datetime
) -> int:
    """One per reachable group chat of a targeted organization or club."""
    eligible = select(
        literal(campaign_id), GroupChat.id, literal("pending"), literal(now, UTCDateTime())
    ).where(*eligible_groups(orgs, clubs))
    return await _insert_missing(session, eligible, "group_chat_id")


async def _insert_missing(session: AsyncSession, eligible: Any, recipient: str) -> int:
    """Insert the eligible rows that are not assigned yet: the unique key (campaign, recipient)
    skips the rest. Not NOT EXISTS: after ANALYZE has seen an empty `assignment` table,
    PostgreSQL plans it as a nested-loop anti join that rescans the rows this very statement is
    writing, once per member (371 s for 270,000 tasks on a fresh database)."""
    statement = upsert_insert(session)(Assignment).from_select(
        ["campaign_id", recipient, "status", "created_at"], eligible
    )
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["campaign_id", recipient])
    )
    return _rowcount(result)


def _rowcount(result: Any) -> int:
    """Rows an INSERT ... SELECT wrote (both drivers report it)."""
    return int(result.rowcount or 0)
