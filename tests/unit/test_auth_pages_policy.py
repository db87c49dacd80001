"""The auth slice's pages and templates ask the policy module, never test a role themselves."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.auth import policy
from coordinator.auth.scope import Actor

ROOT = Path(__file__).resolve().parents[2]
ROLE_TEST = re.compile(r"actor\.role|is_admin|require_role|\brole\s+(?:not\s+)?in\b|role\s*[!=]=")


def _actor(role: str) -> Actor:
    return Actor(1, role, 1, frozenset({1}), frozenset())


def test_it_finds_no_role_test_in_the_auth_pages_or_their_templates():
    files = [*(ROOT / "coordinator/auth/web").glob("*.py"), *(ROOT / "templates/auth").glob("*")]
    assert len(files) > 10  # the slice is where this test looks
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ROLE_TEST.search(line)
    ]
    assert found == []


def test_it_lets_admins_leads_and_leadership_connect_digests():
    allowed = {
        r
        for r in ("admin", "coordinator", "lead", "leadership")
        if policy.connects_digests(_actor(r))
    }
    assert allowed == {"admin", "lead", "leadership"}
