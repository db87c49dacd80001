"""What the focal points of an organization read in Telegram: the organization task's message,
its buttons (Received / Pass it on / Can't, then the choices), and the presses' callback data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.base import MAX_ROW_ID
from coordinator.campaigns.models import Campaign, ContentItem, OrganizationTask
from coordinator.clock import local_time_text
from coordinator.delivery.queue import outbox_row, queue_rows
from coordinator.i18n import translate as _
from coordinator.organizations.models import FocalPoint, Organization

CHOICE_LABELS = {
    "members": "All members by direct message",
    "clubs": "Its clubs",
    "groups": "Its group chats",
    "suborgs": "Its sub-organizations",
}
REASON_LABELS = {
    "busy": "No capacity now",
    "unfit": "Not for our members",
    "other": "Another reason",
}
STATUS_LABELS = {
    "pending": "Waiting",
    "received": "Received",
    "passed_on": "Passed on",
    "declined": "Can't",
}
_CALLBACK = re.compile(r"o:(?P<id>\d{1,10}):(?P<step>rcv|pass|no|p:[a-z]+|no:[a-z]+)")


def parse_callback(data: str) -> tuple[int, str] | None:
    """(organization task id, step) from a focal point's button, or None if not one."""
    found = _CALLBACK.fullmatch(data)
    if found is None or not 1 <= int(found["id"]) <= MAX_ROW_ID:
        return None
    step = found["step"]
    if step.startswith("p:") and step[2:] not in CHOICE_LABELS:
        return None
    if step.startswith("no:") and step[3:] not in REASON_LABELS:
        return None
    return int(found["id"]), step


def buttons(task: OrganizationTask, locale: str, step: str = "") -> dict[str, Any] | None:
    """The first row of buttons, or the pass-on choices / the reasons once asked for."""
    base = f"o:{task.id}"
    if step == "pass":  # applied choices stay, ticked: pressing one again changes nothing
        return {
            "inline_keyboard": [
                [
                    {
                        "text": ("✓ " if choice in task.passed_on_how else "") + _(locale, label),
                        "callback_data": f"{base}:p:{choice}",
                    }
                ]
                for choice, label in CHOICE_LABELS.items()
            ]
        }
    if step == "no":
        rows = [
            [{"text": _(locale, label), "callback_data": f"{base}:no:{reason}"}]
            for reason, label in REASON_LABELS.items()
        ]
        return {"inline_keyboard": rows}
    row = []
    if task.received_at is None:
        row.append({"text": "✅ " + _(locale, "Received"), "callback_data": f"{base}:rcv"})
    if len(task.passed_on_how) < len(CHOICE_LABELS):
        row.append({"text": "📣 " + _(locale, "Pass it on"), "callback_data": f"{base}:pass"})
    if task.status in ("pending", "received"):
        row.append({"text": "✋ " + _(locale, "Can't"), "callback_data": f"{base}:no"})
    return {"inline_keyboard": [row]} if row else None


def render(
    task: OrganizationTask,
    campaign: Campaign,
    organization: str,
    urls: list[str],
    reach: tuple[int, int],
    locale: str,
) -> str:
    lines = [
        _(locale, "For {organization}: a campaign to pass on", organization=escape(organization)),
        f"<b>{escape(campaign.title)}</b>",
    ]
    if campaign.brief:
        lines.append(escape(campaign.brief))
    lines += [escape(url) for url in urls]
    lines.append(
        _(
            locale,
            "It can reach {members} members and {groups} group chats.",
            members=reach[0],
            groups=reach[1],
        )
    )
    lines.append(_(locale, "Deadline: {when}", when=local_time_text(campaign.deadline_at)))
    status = _(locale, STATUS_LABELS[task.status])
    if task.passed_on_how:
        how = ", ".join(_(locale, CHOICE_LABELS[c]) for c in task.passed_on_how)
        status += f" ({how})"
    lines.append(_(locale, "Status: {status}", status=status))
    return "\n".join(lines)


async def task_text(session: AsyncSession, task: OrganizationTask, locale: str) -> str:
    """The task's message as it reads now."""
    return (await task_texts(session, [(task, locale)]))[(task.id or 0, locale)]


async def task_texts(
    session: AsyncSession, wanted: Sequence[tuple[OrganizationTask, str]]
) -> dict[tuple[int, str], str]:
    """Each (task, locale)'s message, in five queries however many tasks: a launch to 1,000
    organizations renders 1,000 messages, one query each took seconds."""
    from coordinator.campaigns.cascade import reach

    if not wanted:
        return {}
    campaign_ids = {t.campaign_id for t, _ in wanted}
    org_ids = {t.organization_id for t, _ in wanted}
    found = await session.scalars(select(Campaign).where(col(Campaign.id).in_(campaign_ids)))
    campaigns = {c.id: c for c in found}
    named = await session.execute(
        select(Organization.id, Organization.name).where(col(Organization.id).in_(org_ids))
    )
    names: dict[int, str] = {int(o): str(n) for o, n in named.all()}
    urls: dict[int, list[str]] = {}
    items = await session.execute(
        select(ContentItem.campaign_id, ContentItem.url)
        .where(col(ContentItem.campaign_id).in_(campaign_ids))
        .order_by(col(ContentItem.position), col(ContentItem.id))
    )
    for campaign_id, url in items.all():
        urls.setdefault(campaign_id, []).append(url)
    counts = await reach(session, org_ids)
    return {
        (t.id or 0, locale): render(
            t,
            campaigns[t.campaign_id],
            names[t.organization_id],
            urls.get(t.campaign_id, []),
            counts[t.organization_id],
            locale,
        )
        for t, locale in wanted
    }


async def notify_focal_points(
    session: AsyncSession, campaign: Campaign, parent: int | None, now: datetime
) -> int:
    """Queue each task of the campaign handed down by `parent` (None: by the launch) to each
    of its linked focal points, once."""
    by = OrganizationTask.parent_task_id
    handed = col(by).is_(None) if parent is None else col(by) == parent
    pairs = (
        await session.execute(
            select(OrganizationTask, User)
            .join(FocalPoint, col(FocalPoint.organization_id) == OrganizationTask.organization_id)
            .join(User, col(User.id) == FocalPoint.user_id)
            .where(
                OrganizationTask.campaign_id == campaign.id,
                handed,
                col(User.active),
                col(User.telegram_user_id).is_not(None),
            )
            .order_by(col(OrganizationTask.id), col(User.id))
        )
    ).all()
    texts = await task_texts(
        session, list({(t.id, u.locale): (t, u.locale) for t, u in pairs}.values())
    )
    rows = [
        outbox_row(
            f"orgtask:{task.id}:{user.id}",
            user.telegram_user_id or 0,
            "text",
            {
                "text": texts[(task.id or 0, user.locale)],
                "locale": user.locale,
                "markup": buttons(task, user.locale),
            },
            now,
        )
        for task, user in pairs
    ]
    return await queue_rows(session, rows)
