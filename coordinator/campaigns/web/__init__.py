"""The campaigns slice's pages: drafting (`drafts`) and the moves (`launch`), mounted as `ROUTES`.

The status page and its progress partial belong to the tallies slice.
"""

from __future__ import annotations

from coordinator.campaigns.web import cascade, drafts, launch

ROUTES = [*drafts.ROUTES, *launch.ROUTES, *cascade.ROUTES]
