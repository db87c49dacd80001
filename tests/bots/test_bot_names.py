"""No link names a bot that getMe did not describe: t.me links are built in one place, from
the stored getMe answer, and no bot name is written into the code or the templates."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK_BUILDER = ROOT / "coordinator" / "bots" / "identity.py"
SANDBOX_DEFAULT = ROOT / "coordinator" / "sandbox" / "state.py"
# Telegram's rule for a bot's name: 5-32 of A-Z a-z 0-9 _, ending in "bot".
BOT_NAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]")
FIELDS = {"is_bot"}  # Bot API field names that happen to end in "bot"
IN_TEXT = re.compile(r"(?:t\.me/|@)([A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt])\b")


def _python() -> list[Path]:
    return list((ROOT / "coordinator").rglob("*.py"))


def test_only_the_identity_module_builds_t_me_links():
    sources = [*_python(), *(ROOT / "templates").rglob("*.html")]
    building = [p.relative_to(ROOT) for p in sources if "t.me/" in p.read_text()]
    assert building == [LINK_BUILDER.relative_to(ROOT)]
    [line] = [x for x in LINK_BUILDER.read_text().splitlines() if "t.me/" in x]
    assert "https://t.me/{username}?" in line, "the name comes in as a value, never written"


def test_no_bot_name_is_written_into_the_code_or_the_templates():
    found: dict[str, set[str]] = {}
    for path in _python():
        if path == SANDBOX_DEFAULT:  # the sandbox's own bot, which its getMe answers with
            continue
        strings = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        names = {s for s in strings if BOT_NAME.fullmatch(s) and s not in FIELDS}
        names |= {m for s in strings for m in IN_TEXT.findall(s)}
        if names:
            found[str(path.relative_to(ROOT))] = names
    for path in (ROOT / "templates").rglob("*.html"):
        if names := set(IN_TEXT.findall(path.read_text())):
            found[str(path.relative_to(ROOT))] = names
    assert found == {}


def test_the_invites_take_the_name_from_the_stored_getme_answer():
    source = (ROOT / "coordinator" / "organizations" / "invites.py").read_text()
    # member, user, group, sheet: each names the bot of its organization
    assert source.count("await username_for(session, ") == 4
    assert "deep_link(" in source
