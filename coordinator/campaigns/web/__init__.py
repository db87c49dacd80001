"""The campaigns slice's pages: drafting (`drafts`), copies and templates (`copies`), the
moves (`launch`), approval (`approvals`) and the cascade (`cascade`), mounted as `ROUTES`.

The status page and its progress partial belong to the tallies slice.
"""

from __future__ import annotations

from coordinator.campaigns.web import approvals, cascade, copies, drafts, launch

ROUTES = [*copies.ROUTES, *drafts.ROUTES, *launch.ROUTES, *approvals.ROUTES, *cascade.ROUTES]
