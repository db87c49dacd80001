"""The policy's questions answer as the roles expect (the pages ask them, never a role)."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.auth import policy
from coordinator.auth.scope import Actor

ROOT = Path(__file__).resolve().parents[2]
ROLE_TEST = re.compile(r"actor\.role|is_admin|require_role|\brole\s+(?:not\s+)?in\b|role\s*[!=]=")


def _actor(role: str) -> Actor:
    return Actor(1, role, 1, frozenset({1}), frozenset())


def test_it_lets_everyone_the_bot_writes_to_connect_their_telegram():
    allowed = {
        r
        for r in ("admin", "coordinator", "lead", "leadership")
        if policy.connects_own_telegram(_actor(r))
    }
    assert allowed == {"admin", "coordinator", "lead", "leadership"}
