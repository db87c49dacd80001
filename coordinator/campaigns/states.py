"""The two state machines, as pure functions: campaign status and assignment status."""

from __future__ import annotations

CAMPAIGN_MOVES: dict[str, tuple[frozenset[str], str]] = {
    # move: (statuses it may start from, status it ends in)
    "schedule": (frozenset({"draft"}), "scheduled"),
    "launch": (frozenset({"draft", "scheduled", "active"}), "active"),
    "close": (frozenset({"active", "closed"}), "closed"),
    "cancel": (frozenset({"draft", "scheduled", "active", "cancelled"}), "cancelled"),
}

OPEN_ASSIGNMENT = ("pending", "delivered", "acknowledged")
FINAL_ASSIGNMENT = ("done", "declined", "expired")
_RANK = {"pending": 0, "delivered": 1, "acknowledged": 2, "done": 3, "declined": 3, "expired": 3}


def campaign_move(status: str, move: str) -> str | None:
    """The new status, or None when the move is not allowed from `status`."""
    sources, target = CAMPAIGN_MOVES[move]
    return target if status in sources else None


def assignment_move(status: str, target: str) -> str | None:
    """The status after asking for `target`: the same one for a repeat, None if it goes back.

    Statuses only move forward; a final status never changes; asking for the current
    status again is a harmless repeat.
    """
    if target == status:
        return status
    if status in FINAL_ASSIGNMENT or _RANK[target] <= _RANK[status]:
        return None
    return target
