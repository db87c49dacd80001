"""Translations: Vietnamese first, English too. Catalogs are Babel .po files read at start-up.

Message ids are the English text; `coordinator/locales/<lang>/LC_MESSAGES/messages.po` holds
the translations, so translators edit ordinary gettext catalogs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

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


def translate(locale: str, message: str, **values: object) -> str:
    """`message` in `locale` (falling back to English), with {placeholders} filled in."""
    text = _catalog(locale if locale in LOCALES else "vi").get(message, message)
    return text.format(**values) if values else text
