"""Digests in Telegram for users who linked it: each morning a lead's running campaigns with
their laggards; each Monday morning leadership's week, in counts only ("<5" for small ones).

The scheduler calls `queue_digests` every tick; a digest is an outbox text row whose dedupe key
names the user and the day (or week), so a restart or a second tick never sends one twice.
Digests are due from 08:00 to 12:00 local: a process down all morning skips that day's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from coordinator.auth import policy, scope
from coordinator.auth.models import User
from coordinator.auth.scope import Actor, actor_for
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.campaigns.states import OPEN_ASSIGNMENT
from coordinator.db import Database
from coordinator.delivery.queue import queue_text, queued_keys
from coordinator.i18n import translate as _
from coordinator.organizations.models import Member
from coordinator.tallies.figures import period_figures
from coordinator.tallies.masked import ShownLine

DUE_FROM, DUE_UNTIL = 8, 12  # local hours
LAGGARDS_SHOWN = 15
ORGANIZATIONS_SHOWN = 3


def _key(user: User, local: datetime) -> str | None:
    """The dedupe key of the digest due to `user` today (within the window), or None."""
    if policy.gets_daily_digest(user):
        return f"digest:{user.id}:{local.date().isoformat()}"
    if policy.gets_weekly_summary(user) and local.weekday() == 0:
        year, week, _day = local.isocalendar()
        return f"weekly:{user.id}:{year}-W{week:02d}"
    return None


async def queue_digests(db: Database, now: datetime, tz: ZoneInfo) -> int:
    """Queue every digest due now and not queued yet; returns how many were queued."""
    local = now.astimezone(tz)
    if not DUE_FROM <= local.hour < DUE_UNTIL:
        return 0
    async with db.read() as session:
        users = (
            await session.scalars(
                select(User).where(
                    col(User.active),
                    col(User.telegram_user_id).is_not(None),
                )
            )
        ).all()
        due = {key: user for user in users if (key := _key(user, local)) is not None}
        queued_before = await queued_keys(session, due)
    queued = 0
    for key, user in due.items():
        if key in queued_before:
            continue
        async with db.read() as session:
            actor = await actor_for(session, user)
        if policy.gets_daily_digest(user):
            text = await lead_digest(db, actor, user.locale, now, tz)
        else:
            text = await weekly_summary(db, actor, user.locale, now, tz)
        if text is None:
            continue  # nothing running: no message (looked at again next tick, cheaply)
        async with db.write() as session:
            queued += await queue_text(session, int(user.telegram_user_id or 0), key, text, now)
    return queued


async def lead_digest(
    db: Database, actor: Actor, locale: str, now: datetime, tz: ZoneInfo
) -> str | None:
    """The lead's running campaigns: done of assigned in their organizations, and who has not
    done it yet (their own members' names only). None when nothing of theirs is running."""
    running = scope.campaigns(
        actor,
        select(Campaign)
        .where(col(Campaign.status) == "active", col(Campaign.deadline_at) > now)
        .order_by(col(Campaign.deadline_at)),
    )
    async with db.read() as session:
        campaigns = (await session.scalars(running)).all()
        ids = [c.id for c in campaigns]
        by_status: Any = (
            select(Assignment.campaign_id, Assignment.status, func.count())
            .where(col(Assignment.campaign_id).in_(ids))
            .group_by(col(Assignment.campaign_id), col(Assignment.status))
        )
        counts = (await session.execute(scope.assignments(actor, by_status))).all()
        not_done: Any = (
            select(Assignment.campaign_id, Member.display_name)
            .join(Member, col(Member.id) == Assignment.member_id)
            .where(
                col(Assignment.campaign_id).in_(ids), col(Assignment.status).in_(OPEN_ASSIGNMENT)
            )
            .order_by(col(Member.display_name))
        )
        open_names = (await session.execute(scope.assignments(actor, not_done))).all()
    assigned: dict[int, int] = {}
    done: dict[int, int] = {}
    for campaign_id, status, count in counts:
        assigned[campaign_id] = assigned.get(campaign_id, 0) + count
        done[campaign_id] = done.get(campaign_id, 0) + (count if status == "done" else 0)
    laggards: dict[int, list[str]] = {}
    for campaign_id, name in open_names:
        laggards.setdefault(campaign_id, []).append(name)
    lines = [_(locale, "<b>Daily digest, {day}</b>", day=now.astimezone(tz).strftime("%d/%m"))]
    for campaign in campaigns:
        cid = campaign.id or 0
        if assigned.get(cid):
            lines += _campaign_lines(
                campaign, done[cid], assigned[cid], laggards.get(cid), locale, tz
            )
    return "\n".join(lines) if len(lines) > 1 else None


def _campaign_lines(
    campaign: Campaign,
    done: int,
    assigned: int,
    laggards: list[str] | None,
    locale: str,
    tz: ZoneInfo,
) -> list[str]:
    """One running campaign in the lead's digest: its title, deadline, done of assigned, and
    who is not done yet."""
    lines: list[str] = []
    rate = round(100 * done / assigned)
    lines += [
        "",
        f"<b>{escape(campaign.title)}</b> "
        + _(
            locale,
            "(due {when})",
            when=campaign.deadline_at.astimezone(tz).strftime("%H:%M %d/%m"),
        ),
        _(
            locale,
            "Done: {done} of {assigned} ({rate}%)",
            done=done,
            assigned=assigned,
            rate=rate,
        ),
    ]
    if laggards:
        lines.append(_(locale, "Not done yet: {names}", names=_names(locale, laggards)))
    return lines


def _names(locale: str, names: Sequence[str]) -> str:
    shown = ", ".join(escape(n) for n in names[:LAGGARDS_SHOWN])
    more = len(names) - LAGGARDS_SHOWN
    return _(locale, "{names} and {count} more", names=shown, count=more) if more > 0 else shown


async def weekly_summary(
    db: Database, actor: Actor, locale: str, now: datetime, tz: ZoneInfo
) -> str | None:
    """Last week (Monday to Sunday, local) for leadership: counts only, "<5" for small ones,
    organizations by participation rate. None when no campaign launched that week."""
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=today.weekday() + 7)
    end = start + timedelta(days=7)
    tally = await period_figures(db, actor, start, end, tz)
    if not tally.campaigns:
        return None
    total = tally.total
    lines = [
        _(
            locale,
            "<b>Weekly summary, {first} to {last}</b>",
            first=start.strftime("%d/%m"),
            last=(end - timedelta(days=1)).strftime("%d/%m"),
        ),
        _(locale, "Campaigns launched: {count}", count=tally.campaigns),
        _(
            locale,
            "Tasks: {assigned}, done: {done} ({rate}%), expired: {expired}",
            # "<5" must reach Telegram as text, not as the start of an HTML tag.
            assigned=escape(str(total.assigned)),
            done=escape(str(total.done)),
            rate="–" if total.rate is None else round(100 * total.rate),
            expired=escape(str(total.expired)),
        ),
    ]
    ranked = _ranked(tally.organizations)
    if len(ranked) > ORGANIZATIONS_SHOWN:
        lines.append(_(locale, "Highest participation: {list}", list=_rates(ranked[:3])))
        lines.append(_(locale, "Lowest participation: {list}", list=_rates(ranked[-3:][::-1])))
    elif ranked:
        lines.append(_(locale, "Participation: {list}", list=_rates(ranked)))
    return "\n".join(lines)


def _ranked(organizations: Sequence[ShownLine]) -> list[ShownLine]:
    """The organizations one level below the top whose rates may be compared
    (`Figures.ranked`), best rate first."""
    top = min((line.depth for line in organizations), default=0)
    level = [line for line in organizations if line.depth == top + 1 and line.counts.ranked]
    return sorted(level, key=lambda line: (-(line.counts.rate or 0), line.name))


def _rates(lines: Sequence[ShownLine]) -> str:
    return ", ".join(
        f"{escape(line.name)} {round(100 * (line.counts.rate or 0))}%" for line in lines
    )
