"""A focal point's buttons on an organization task, recorded in the press batch's transaction
(`presses.record_presses`): receive, pass on (one choice at a time, each once) or can't."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.campaigns import cascade, cascade_messages
from coordinator.campaigns.models import OrganizationTask
from coordinator.errors import DomainError
from coordinator.i18n import translate as _

REFUSALS = {
    "no_task": "This task no longer exists.",
    "not_focal": "Only the organization's focal points can act on it.",
    "campaign_not_active": "The campaign is not running.",
}


@dataclass
class OrgAnswer:
    locale: str
    note: str  # the answer to the press, translated
    refusal: bool = False
    text: str | None = None  # the task's message as it reads now, to edit in place
    markup: dict[str, Any] | None = None


async def user_by_telegram(session: AsyncSession, telegram_user_id: int) -> User | None:
    return await session.scalar(
        select(User).where(User.telegram_user_id == telegram_user_id, col(User.active))
    )


async def press_in(
    session: AsyncSession, telegram_user_id: int, data: str, now: datetime, default_locale: str
) -> OrgAnswer:
    user = await user_by_telegram(session, telegram_user_id)
    parsed = cascade_messages.parse_callback(data)
    if user is None or parsed is None or user.id is None:
        note = "Link your account first: open your invite link."
        return OrgAnswer(default_locale, _(default_locale, note), True)
    task_id, step = parsed
    locale = user.locale
    try:
        note, changed = await _step(session, task_id, user.id, step, now)
    except DomainError as exc:
        refusal = REFUSALS.get(exc.code, "This cannot be recorded.")
        return OrgAnswer(locale, _(locale, refusal), True)
    task = await session.get(OrganizationTask, task_id)
    assert task is not None
    status = _(locale, cascade_messages.STATUS_LABELS[task.status])
    note = _(locale, note, status=status)
    shown = "pass" if step.startswith("p") else "no" if step == "no" else ""
    if not changed and not shown:
        return OrgAnswer(locale, note)
    text = await cascade_messages.task_text(session, task, locale)
    return OrgAnswer(locale, note, text=text, markup=cascade_messages.buttons(task, locale, shown))


async def _step(
    session: AsyncSession, task_id: int, user_id: int, step: str, now: datetime
) -> tuple[str, bool]:
    """Do what the button says; (the answer, whether anything changed)."""
    if step == "rcv":
        outcome = await cascade.receive(session, task_id, user_id, now)
        return "Recorded: {status}", outcome.changed
    if step.startswith("p:"):
        outcome = await cascade.pass_on(session, task_id, user_id, step[2:], now)
        return ("Passed on." if outcome.changed else "This was passed on already."), outcome.changed
    if step.startswith("no:"):
        outcome = await cascade.decline(session, task_id, user_id, step[3:], now)
        return ("Recorded: {status}" if outcome.changed else "Already recorded."), outcome.changed
    # "pass" / "no" only show the choices, but still need the right to act.
    await cascade.check_focal(session, task_id, user_id)
    return ("Choose how to pass it on." if step == "pass" else "Why not?"), False
