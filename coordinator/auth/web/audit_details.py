"""An audit event's details as a reader meets them: each key a translated label, ids as the
names of what they point at, codes (roles, states, modes, platforms, steps) as translated
words, counts and dates in the page's language. The stored details stay codes and ids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from coordinator.i18n import translate
from coordinator.organizations.channels import PLATFORM_LABELS
from coordinator.web.filters import number

# Detail keys whose values are ids of objects with a name: key -> object kind.
ID_KINDS = {
    "organization_id": "organization",
    "moved_from": "organization",
    "moved_to": "organization",
    "organizations": "organization",
    "parties": "organization",
    "lead": "organization",
    "club_id": "club",
    "clubs": "club",
    "source": "campaign",
    "broken": "campaign",
    "channel": "channel",
    "template": "template",
    "user_id": "user",
}
# Detail keys whose values are codes: key -> the catalog prefix of their words.
CODE_WORDS = {
    "role": "",
    "roles": "",
    "reason": "reason:",
    "status": "status:",
    "kind": "kind:",
    "ownership": "ownership:",
    "step": "action:",
    "export": "export:",
    "delivery_mode": "mode:",
}
# The keys of an action whose old and new values are roles (elsewhere they are names).
ROLE_CHANGES = {"user.role"}
DATES = {"start", "end"}


def wanted_ids(details: Iterable[dict[str, Any]]) -> dict[str, set[int]]:
    """kind -> ids named in these details, to look their names up in one query per kind."""
    wanted: dict[str, set[int]] = {}
    for detail in details:
        for key, value in (detail or {}).items():
            if key in ID_KINDS:
                ids = value if isinstance(value, list | tuple) else [value]
                wanted.setdefault(ID_KINDS[key], set()).update(
                    i for i in ids if isinstance(i, int) and not isinstance(i, bool)
                )
    return wanted


def _word(lang: str, prefix: str, code: Any) -> str:
    """A code as its translated word; a code without one stays as is."""
    text = str(code)
    if prefix == "platform:":
        return translate(lang, PLATFORM_LABELS.get(text, text))
    message = prefix + text
    shown = translate(lang, message)
    return text if shown == message and prefix else shown


def _one(lang: str, action: str, key: str, value: Any, names: dict[Any, str]) -> str:
    if key in ID_KINDS and isinstance(value, int) and not isinstance(value, bool):
        return names.get((ID_KINDS[key], value), f"#{value}")
    if key == "platform":
        return _word(lang, "platform:", value)
    if key in CODE_WORDS or (key in ("old", "new") and action in ROLE_CHANGES):
        return _word(lang, CODE_WORDS.get(key, ""), value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value, lang)
    if key in DATES and isinstance(value, str):
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return value
        return day.strftime("%d/%m/%Y") if lang == "vi" else day.strftime("%d %b %Y")
    return "" if value is None else str(value)


def shown_details(
    lang: str, action: str, detail: dict[str, Any] | None, names: dict[Any, str]
) -> list[tuple[str, str]]:
    """(label, value) pairs in the reader's language."""
    shown = []
    for key, value in (detail or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        if isinstance(value, dict):
            text = ", ".join(f"{translate(lang, str(k))}: {v}" for k, v in value.items())
        else:
            text = ", ".join(_one(lang, action, str(key), v, names) for v in values)
        shown.append((_word(lang, "detail:", key), text))
    return shown
