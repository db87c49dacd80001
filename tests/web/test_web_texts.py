"""Every text the web UI shows exists in Vietnamese and in English (a missing id fails)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from coordinator.auth.models import ROLES
from coordinator.campaigns.drafting import CONTENT_KINDS
from coordinator.campaigns.web.forms import STATUSES
from coordinator.i18n import _catalog, translate
from coordinator.organizations.channels import MESSAGES as CHANNEL_MESSAGES
from coordinator.organizations.members import MEMBER_STATES
from coordinator.organizations.service import ORG_KINDS
from coordinator.web.context import ERROR_TEXT, NAV

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])(.+?)\1\s*[,)]""")
# Python calls whose second argument (or first for flash) is a message id.
CALLS = {"translate": 1, "flash": 1, "_guarded": 3}


def template_ids() -> set[str]:
    found = set()
    for path in (ROOT / "templates").rglob("*.html"):
        found |= {m.group(2) for m in TEMPLATE_CALL.finditer(path.read_text())}
    return found


def page_modules() -> list[Path]:
    """The shared web layer and every slice's pages (`<slice>/web.py` or `<slice>/web/*.py`)."""
    code = ROOT / "coordinator"
    return [*code.glob("web/*.py"), *code.glob("*/web.py"), *code.glob("*/web/*.py")]


def python_ids() -> set[str]:
    found = set()
    for path in page_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in CALLS:
                index = CALLS[node.func.id]  # type: ignore[attr-defined]
                if len(node.args) > index and isinstance(node.args[index], ast.Constant):
                    found.add(node.args[index].value)
    return found


def dynamic_ids() -> set[str]:
    """Ids built from data in templates: labels, statuses, roles, kinds."""
    return (
        {item.label for item in NAV}
        | {f"campaign:{s}" for s in STATUSES}
        | {f"state:{s}" for s in MEMBER_STATES}
        | set(ROLES)
        | set(ORG_KINDS)
        | set(CONTENT_KINDS)
        | set(ERROR_TEXT.values())
        | set(CHANNEL_MESSAGES.values())  # the URL check shows them on the content form
    )


def wanted() -> set[str]:
    return template_ids() | python_ids() | dynamic_ids()


def missing(locale: str) -> list[str]:
    catalog = _catalog(locale)
    return sorted(m for m in wanted() if not catalog.get(m))


def test_every_web_text_is_translated_in_both_catalogs():
    assert len(wanted()) > 150  # the extraction itself works
    assert missing("vi") == []
    assert missing("en") == []


def test_it_fills_placeholders_in_both_languages():
    assert translate("vi", "Sign in") == "Đăng nhập"
    assert "7" in translate("vi", "Reminders queued for {n} volunteers not done yet.", n=7)
    assert translate("en", "campaign:active") == "active"


if __name__ == "__main__":  # python -m tests.web.test_web_texts: list what to translate
    for lang in ("vi", "en"):
        print(f"== {lang}")
        for msgid in missing(lang):
            print(repr(msgid))


def test_no_message_id_is_in_a_catalog_twice():
    """Entries are appended by many hands; a second entry for an id silently decides which
    translation wins (the later one), so a repeated id fails here."""
    from babel.messages.pofile import read_po

    for locale in ("vi", "en"):
        path = ROOT / "coordinator" / "locales" / locale / "LC_MESSAGES" / "messages.po"
        ids = [line for line in path.read_text().splitlines() if re.match(r'^msgid ".+"$', line)]
        assert [i for i in set(ids) if ids.count(i) > 1] == [], locale
        with path.open("rb") as po:
            assert len(read_po(po)) >= len(ids) - 1  # it parses, one entry per id
