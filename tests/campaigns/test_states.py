"""Properties of the two state machines."""

from hypothesis import given
from hypothesis import strategies as st

from coordinator.campaigns.models import ASSIGNMENT_STATUSES
from coordinator.campaigns.states import (
    CAMPAIGN_MOVES,
    FINAL_ASSIGNMENT,
    assignment_move,
    campaign_move,
)

RANK = {"pending": 0, "delivered": 1, "acknowledged": 2, "done": 3, "declined": 3, "expired": 3}
statuses = st.sampled_from(ASSIGNMENT_STATUSES)


@given(st.lists(statuses, max_size=30), statuses)
def test_it_never_moves_an_assignment_backwards(requests, start):
    status = start
    for target in requests:
        new = assignment_move(status, target)
        if new is not None:
            assert RANK[new] >= RANK[status]
            if status in FINAL_ASSIGNMENT:
                assert new == status
            status = new


@given(statuses)
def test_it_treats_a_repeat_as_harmless(status):
    assert assignment_move(status, status) == status


def test_it_allows_the_documented_assignment_paths():
    assert assignment_move("pending", "delivered") == "delivered"
    assert assignment_move("delivered", "done") == "done"
    assert assignment_move("acknowledged", "declined") == "declined"
    assert assignment_move("done", "acknowledged") is None
    assert assignment_move("declined", "done") is None
    assert assignment_move("expired", "done") is None


@given(st.lists(st.sampled_from(sorted(CAMPAIGN_MOVES)), max_size=20))
def test_it_ends_campaigns_for_good(moves):
    status = "draft"
    for move in moves:
        new = campaign_move(status, move)
        if status in ("closed", "cancelled") and new is not None:
            assert new == status  # only the idempotent repeat is allowed
        status = new or status


def test_it_guards_campaign_moves():
    assert campaign_move("draft", "schedule") == "scheduled"
    assert campaign_move("scheduled", "launch") == "active"
    assert campaign_move("draft", "close") is None
    assert campaign_move("closed", "launch") is None
    assert campaign_move("cancelled", "launch") is None
    assert campaign_move("active", "schedule") is None


@given(st.lists(st.sampled_from(sorted(CAMPAIGN_MOVES)), max_size=20))
def test_it_never_runs_a_partys_campaign_without_approval(moves):
    """A campaign that needs approval reaches scheduled or active only through approved."""
    status, approved = "draft", False
    for move in moves:
        new = campaign_move(status, move, needs_approval=status == "draft")
        if new is None:
            continue
        if new == "approved":
            approved = True
        if new == "draft":
            approved = False
        if new in ("scheduled", "active"):
            assert approved
        status = new


def test_it_guards_the_approval_moves():
    assert campaign_move("draft", "submit", needs_approval=True) == "submitted"
    assert campaign_move("draft", "submit") is None  # the lead's own drafts need none
    assert campaign_move("draft", "launch", needs_approval=True) is None
    assert campaign_move("draft", "schedule", needs_approval=True) is None
    assert campaign_move("submitted", "launch") is None
    assert campaign_move("submitted", "approve") == "approved"
    assert campaign_move("submitted", "return") == "draft"
    assert campaign_move("approved", "launch") == "active"
    assert campaign_move("approved", "schedule") == "scheduled"
    assert campaign_move("submitted", "cancel") == "cancelled"
    assert campaign_move("approved", "return") is None
