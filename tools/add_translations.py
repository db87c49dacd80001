"""Add message ids to both catalogs: `python tools/add_translations.py table.py` where the table
module defines VI (English id -> Vietnamese) and optionally EN_OVERRIDES. Existing ids are kept."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parents[1] / "coordinator" / "locales"


def main(table_path: str) -> None:
    table = runpy.run_path(table_path)
    vi: dict[str, str] = table["VI"]
    en: dict[str, str] = {k: table.get("EN_OVERRIDES", {}).get(k, k) for k in vi}
    for locale, texts in (("vi", vi), ("en", en)):
        path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        added = 0
        for msgid, text in texts.items():
            if msgid not in catalog or not catalog[msgid].string:
                catalog.add(msgid, text)
                added += 1
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False)
        print(f"{locale}: {added} added")


if __name__ == "__main__":
    main(sys.argv[1])
