"""Delivery sits below the slices: nothing under coordinator/delivery imports them."""

from __future__ import annotations

import ast
from pathlib import Path

DELIVERY = Path(__file__).resolve().parents[2] / "coordinator" / "delivery"
ABOVE = ("campaigns", "organizations", "tallies", "bots", "sandbox")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_it_finds_the_delivery_modules():
    assert {p.stem for p in DELIVERY.glob("*.py")} >= {"models", "queue", "store", "review"}


def test_it_keeps_delivery_below_the_slices():
    upward = sorted(
        f"{path.name}: {module}"
        for path in DELIVERY.glob("*.py")
        for module in _imports(path)
        if any(module.startswith(f"coordinator.{slice_}") for slice_ in ABOVE)
    )
    assert upward == []
