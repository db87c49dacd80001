"""The organizations and sandbox pages never test a role: they ask the policy module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE_TEST = re.compile(r"\.role\b|\bis_admin\b|\brole\s*[!=]=|require_role")
SURFACES = [
    *sorted((ROOT / "coordinator/organizations/web").glob("*.py")),
    ROOT / "coordinator/sandbox/web.py",
    *sorted((ROOT / "templates/organizations").rglob("*.html")),
    *sorted((ROOT / "templates/sandbox").rglob("*.html")),
]


@pytest.mark.parametrize("path", SURFACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_it_asks_the_policy_instead_of_testing_a_role(path: Path):
    found = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ROLE_TEST.search(line)
    ]
    assert not found, found


def test_it_scans_the_slices_pages():
    assert len(SURFACES) >= 12
