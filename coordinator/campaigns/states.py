"""The two state machines, as pure functions: campaign status and assignment status."""

from __future__ import annotations

from coordinator.errors import Conflict
from coordinator.i18n import Term

CAMPAIGN_STATUSES = ("draft", "submitted", "approved", "scheduled", "active", "closed", "cancelled")

CAMPAIGN_MOVES: dict[str, tuple[frozenset[str], str]] = {
    # move: (statuses it may start from, status it ends in)
    "submit": (frozenset({"draft"}), "submitted"),
    "approve": (frozenset({"submitted"}), "approved"),
    "return": (frozenset({"submitted"}), "draft"),
    "schedule": (frozenset({"draft", "approved"}), "scheduled"),
    "launch": (frozenset({"draft", "approved", "scheduled", "active"}), "active"),
    "close": (frozenset({"active", "closed"}), "closed"),
    "cancel": (
        frozenset({"draft", "submitted", "approved", "scheduled", "active", "cancelled"}),
        "cancelled",
    ),
}
# A campaign drafted by a party that is not the agreement's lead needs the lead's approval:
# for it, a draft can only be submitted (or cancelled), never scheduled or launched.
_GATED = frozenset({"schedule", "launch"})

OPEN_ASSIGNMENT = ("pending", "delivered", "acknowledged")
FINAL_ASSIGNMENT = ("done", "declined", "expired")
_RANK = {"pending": 0, "delivered": 1, "acknowledged": 2, "done": 3, "declined": 3, "expired": 3}


def campaign_move(status: str, move: str, needs_approval: bool = False) -> str | None:
    """The new status, or None when the move is not allowed from `status`.

    `needs_approval`: the campaign waits for the lead's approval, so a draft (or a returned
    one) cannot be scheduled or launched; one that needs none is never submitted.
    """
    sources, target = CAMPAIGN_MOVES[move]
    if status not in sources:
        return None
    if needs_approval and status == "draft" and move in _GATED:
        return None
    if not needs_approval and move == "submit":
        return None
    return target


def wrong_status(status: str, move: str) -> Conflict:
    """The refusal of a move (or an edit: `edit`, `content`, `targets`) in this status, with the
    status and the move as words the page translates."""
    return Conflict(
        "A campaign that is {status} cannot be {move}.",
        code="wrong_status",
        values={"status": Term("campaign:" + status), "move": Term("move:" + move)},
    )


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
