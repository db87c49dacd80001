"""What volunteers read in Telegram: assignment messages and their buttons, HTML-escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from coordinator.base import MAX_ROW_ID
from coordinator.i18n import translate as _

MAX_TEXT = 4096
ACTION_LABELS = {"share": "Share", "react": "React", "comment": "Comment", "watch": "Watch"}
STATUS_LABELS = {
    "pending": "Not yet acknowledged",
    "delivered": "Not yet acknowledged",
    "acknowledged": "Acknowledged",
    "done": "Done",
    "declined": "Can't do",
    "expired": "Expired",
}
# Callback data: "t:<assignment id>:<step>", well under Telegram's 64 bytes.
BUTTON_STEPS = {"ack": "acknowledged", "done": "done", "no": "declined"}


@dataclass
class ItemView:
    url: str
    actions: list[str]
    caption: str | None


@dataclass
class AssignmentView:
    assignment_id: int
    title: str
    brief: str
    deadline_at: datetime
    items: list[ItemView]
    status: str
    counts: dict[str, int] | None = None  # group mode: how many members did what
    paid_broadcast: bool = False  # an urgent campaign: sent with allow_paid_broadcast


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def copy_note(locale: str) -> str:
    """The first line of a message sent again because the first try may not have arrived."""
    return "<i>" + _(locale, "(Resent copy: you may already have this message.)") + "</i>"


def replaced_note(locale: str) -> str:
    """What an older copy of a task card says once a newer copy has taken over its buttons."""
    return "<i>" + _(locale, "This copy was replaced: use the newer message below.") + "</i>"


def render(
    view: AssignmentView, locale: str, tz: ZoneInfo, *, copy: bool = False, replaced: bool = False
) -> str:
    """The message text. Free text is clipped *before* it is escaped and wrapped in tags, so the
    HTML stays balanced and the deadline and status lines are always there. `copy`: a resend,
    which says so; `replaced`: an older copy, which points at the newer one."""
    notes = ([copy_note(locale)] if copy else []) + ([replaced_note(locale)] if replaced else [])
    limit = MAX_TEXT - sum(len(n) + 1 for n in notes)
    for brief_limit, caption_limit in ((1500, 500), (600, 150), (200, 0)):
        text = _render(view, locale, tz, brief_limit, caption_limit)
        if len(text) <= limit:
            return "\n".join([*notes, text])
    # Only with dozens of items: show the first ten, never broken HTML.
    return "\n".join([*notes, _render(replace(view, items=view.items[:10]), locale, tz, 0, 0)])


_RENDERED: dict[tuple[object, ...], str] = {}  # card text by everything it shows
RENDERED_KEPT = 512


def card_text(
    view: AssignmentView, locale: str, tz: ZoneInfo, *, copy: bool = False, replaced: bool = False
) -> str:
    """`render`, once per content: a campaign's thousands of cards differ only in their
    buttons (which carry the task's id), so the sender's rounds and a burst of presses show
    the same few texts over and over. Keyed by everything the text shows, so a card whose
    campaign was edited, or a group card whose counts moved, is rendered afresh."""
    items = tuple((i.url, tuple(i.actions), i.caption) for i in view.items)
    counts = None if view.counts is None else tuple(sorted(view.counts.items()))
    shown = (view.title, view.brief, view.deadline_at, items, view.status, counts)
    key = (*shown, locale, tz.key, copy, replaced)
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) >= RENDERED_KEPT:
            _RENDERED.clear()
        text = _RENDERED[key] = render(view, locale, tz, copy=copy, replaced=replaced)
    return text


def _render(
    view: AssignmentView, locale: str, tz: ZoneInfo, brief_limit: int, caption_limit: int
) -> str:
    lines = [f"<b>{escape(_clip(view.title, 200))}</b>"]
    if view.brief and brief_limit:
        lines.append(escape(_clip(view.brief, brief_limit)))
    for n, item in enumerate(view.items, start=1):
        actions = ", ".join(_(locale, ACTION_LABELS[a]) for a in item.actions)
        lines.append(f'\n{n}. <a href="{escape(item.url, quote=True)}">{escape(item.url)}</a>')
        lines.append(f"   {_(locale, 'Please')}: {escape(actions)}")
        if item.caption and caption_limit:
            caption = escape(_clip(item.caption, caption_limit))
            lines.append(f"   {_(locale, 'Suggested caption')}: <i>{caption}</i>")
    deadline = view.deadline_at.astimezone(tz).strftime("%H:%M %d/%m/%Y")
    lines.append(f"\n⏰ {_(locale, 'Deadline')}: {deadline}")
    if view.counts is not None:
        lines.append(
            _(
                locale,
                "Acknowledged: {ack} · Done: {done} · Can't do: {no}",
                ack=view.counts.get("acknowledged", 0),
                done=view.counts.get("done", 0),
                no=view.counts.get("declined", 0),
            )
        )
    else:
        lines.append(f"{_(locale, 'Your status')}: <b>{_(locale, STATUS_LABELS[view.status])}</b>")
    return "\n".join(lines)


def buttons(view: AssignmentView, locale: str) -> dict[str, Any] | None:
    """Inline buttons while the task is open; none once it is final."""
    if view.counts is None and view.status in ("done", "declined", "expired"):
        return None
    labels = {
        "ack": "✅ " + _(locale, "Acknowledge"),
        "done": "🏁 " + _(locale, "Done"),
        "no": "✖ " + _(locale, "Can't do"),
    }
    return {
        "inline_keyboard": [
            [
                {"text": labels[step], "callback_data": f"t:{view.assignment_id}:{step}"}
                for step in BUTTON_STEPS
            ]
        ]
    }


# ASCII digits only: str.isdigit() accepts "²", and int() refuses more than 4,300 digits.
_CALLBACK = re.compile(r"t:(?P<id>[0-9]{1,10}):(?P<step>[a-z]{1,8})", re.ASCII)


def parse_callback(data: str) -> tuple[int, str] | None:
    """(assignment id, report action) from a button's callback data, or None if not ours."""
    found = _CALLBACK.fullmatch(data)
    if found is None or found["step"] not in BUTTON_STEPS:
        return None
    assignment_id = int(found["id"])
    if not 1 <= assignment_id <= MAX_ROW_ID:
        return None
    return assignment_id, BUTTON_STEPS[found["step"]]
