"""Translations: Vietnamese first, English too. Catalogs are Babel .po files read at start-up.

Message ids are the English text; `coordinator/locales/<lang>/LC_MESSAGES/messages.po` holds
the translations, so translators edit ordinary gettext catalogs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = ("vi", "en")
CATALOGS = Path(__file__).parent / "locales"


@cache
def _catalog(locale: str) -> dict[str, str]:
    path = CATALOGS / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


class Term(str):
    """A value that is itself a message id (a state, a move): translated with the text around
    it, so a refusal names the state in the reader's language. It is a str, so it still reads
    as its id in the API's problem details and the logs."""

    __slots__ = ()


def number(value: Any, lang: str = "vi") -> str:
    """A count with the language's group separator (vi 1.234, en 1,234); text stays as is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return format_decimal(value, locale="vi" if lang == "vi" else "en")


def _shown(locale: str, text: str, name: str, value: object) -> object:
    """A value as the message shows it: message ids translated, counts with the language's
    separators, unless the message formats the value itself ({end:02d}) or it is an id."""
    if isinstance(value, Term):
        return translate(locale, value)
    is_count = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_count or name == "id" or name.endswith("_id") or _spec(text, name):
        return value
    return number(value, locale)


@cache
def _specs(text: str) -> dict[str, str]:
    try:
        return {field: spec for _, field, spec, _ in Formatter().parse(text) if field and spec}
    except ValueError:
        return {}


def _spec(text: str, name: str) -> bool:
    return name in _specs(text)


def translate(locale: str, message: str, **values: object) -> str:
    """`message` in `locale` (falling back to English), with {placeholders} filled in."""
    lang = locale if locale in LOCALES else "vi"
    text = _catalog(lang).get(message, message)
    if not values:
        return text
    return text.format(**{k: _shown(lang, text, k, v) for k, v in values.items()})
