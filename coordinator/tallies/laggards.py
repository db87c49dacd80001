"""Which organizations are behind in a running campaign: judged against the time elapsed.

The goal is the campaign's quota (or every task, without one) by its deadline; an even pace
would have `goal × elapsed share` done by now. An organization is behind when its done rate is
under half of that (`PACE`). Nothing is judged in the first `FAIR_SHARE` of the campaign's time
(one second after launch nobody can be late), nor once the campaign is no longer running
(closed or cancelled: it is over, not late).
"""

from __future__ import annotations

from datetime import datetime

FAIR_SHARE = 0.15  # the first 15 % of the time: too early to call anyone late
PACE = 0.5  # behind: under half of what an even pace to the goal would have done by now


def elapsed_share(launched_at: datetime | None, deadline_at: datetime, now: datetime) -> float:
    """How much of the campaign's time has passed, from 0 (launch) to 1 (the deadline on)."""
    if launched_at is None:
        return 0.0
    span = (deadline_at - launched_at).total_seconds()
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - launched_at).total_seconds() / span))


def behind(rate: float, share: float, quota_percent: int | None, running: bool) -> bool:
    """The one rule for "chậm" (behind): `rate` done of assigned, `share` of the time elapsed."""
    if not running or share < FAIR_SHARE:
        return False
    goal = quota_percent / 100 if quota_percent else 1.0
    return rate < PACE * goal * share
