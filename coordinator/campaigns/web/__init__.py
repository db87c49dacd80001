"""The campaigns slice's pages: drafting (`drafts`), the moves (`launch`) and approval
(`approvals`), mounted as `ROUTES`.

The status page and its progress partial belong to the tallies slice.
"""

from __future__ import annotations

from coordinator.campaigns.web import approvals, drafts, launch

ROUTES = [*drafts.ROUTES, *launch.ROUTES, *approvals.ROUTES]
