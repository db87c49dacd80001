"""Figures as their audience may see them: for a counts-only audience (policy.counts_only) a
count of one to four people, and every count of a group under five, is `MASKED`.

A masked count renders as "<5" (str and Jinja) and has no rate, no bar and no percentage: a
`Figures` whose `done` or `assigned` is masked has `rate` None, the `percent` filter writes "–"
for it, and templates draw a bar only from a `rate` that is not None. The rule lives here only;
every surface (pages, partials, exports, digests, the API) takes figures from here.

Masking is per figure: each figure shown is a group of five or more, but a parent's rolled-up
total minus its visible children may narrow or equal a masked count; hiding those differences
too would blank most of a province's tree (tests/tallies/test_masked_figures.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from coordinator.tallies.period import COLUMNS, Counts, Line

SMALL = 5  # fewer people than this are never shown to a counts-only audience


class Masked:
    """A hidden count: one to four people, or a count of a group under five."""

    __slots__ = ()
    _one: Masked | None = None

    def __new__(cls) -> Masked:
        if cls._one is None:
            cls._one = super().__new__(cls)
        return cls._one

    def __str__(self) -> str:
        return "<5"

    def __repr__(self) -> str:
        return "MASKED"

    def __html__(self) -> str:
        return "&lt;5"

    def __bool__(self) -> bool:
        return True  # someone is there


MASKED = Masked()
Figure = int | Masked


def mask(value: int, base: int | None = None) -> Figure:
    """`value` as a counts-only audience sees it; `base` is the size of its group."""
    if 0 < value < SMALL or (base is not None and 0 < base < SMALL):
        return MASKED
    return value


def shown(value: int, counts_only: bool, base: int | None = None) -> Figure:
    """`value` as its audience sees it: masked for counts only, as is for everyone else."""
    return mask(value, base) if counts_only else value


def masked(value: Any) -> bool:
    return isinstance(value, Masked)


def rate_of(part: Figure, whole: Figure) -> float | None:
    """part / whole, or None when either is masked or there is no base."""
    if masked(part) or masked(whole) or not whole:
        return None
    assert isinstance(part, int) and isinstance(whole, int)
    return part / whole


@dataclass(frozen=True)
class Figures:
    """The counts of one line (tallies/period.py `Counts`) for one audience, with its rate
    (done / assigned; None when either is masked)."""

    assigned: Figure
    delivered: Figure
    acknowledged: Figure
    done: Figure
    declined: Figure
    expired: Figure
    unreachable: Figure
    rate: float | None

    @classmethod
    def of(cls, counts: Counts, counts_only: bool) -> Figures:
        raw = {name: getattr(counts, name) for name in COLUMNS}
        if not counts_only:
            return cls(**raw, rate=counts.rate if counts.assigned else 0.0)
        shown = {name: mask(value, counts.assigned) for name, value in raw.items()}
        hidden = masked(shown["done"]) or masked(shown["assigned"])
        return cls(**shown, rate=None if hidden else counts.rate if counts.assigned else 0.0)

    @property
    def ranked(self) -> bool:
        """A line whose rate may be compared with others: five tasks or more, rate shown (a
        smaller group's rate would point at a few people)."""
        return self.rate is not None and isinstance(self.assigned, int) and self.assigned >= SMALL

    def values(self) -> list[Figure]:
        return [getattr(self, name) for name in COLUMNS]


@dataclass(frozen=True)
class ShownLine:
    """A tally line (tallies/period.py `Line`) for one audience."""

    key: int
    name: str
    counts: Figures
    depth: int = 0
    parent: int | None = None
    trend: str = ""  # "up" | "down" | "flat" | "" (no trend next to a hidden rate)


def shown_line(line: Line, counts_only: bool, previous: Counts | None = None) -> ShownLine:
    figures = Figures.of(line.counts, counts_only)
    before = Figures.of(previous, counts_only) if previous is not None else None
    trend = line.trend if figures.rate is not None and before and before.rate is not None else ""
    return ShownLine(line.key, line.name, figures, line.depth, line.parent, trend)


def shown_fields(value: Any, counts_only: bool, base: int) -> dict[str, Figure]:
    """Every int field of a dataclass of counts, masked against `base` for counts only."""
    raw = {f.name: getattr(value, f.name) for f in fields(value)}
    return {n: shown(v, counts_only, base) for n, v in raw.items()}
