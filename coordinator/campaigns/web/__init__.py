"""The campaigns slice's pages: drafting (`drafts`), copies and templates (`copies`) and the
moves (`launch`), mounted as `ROUTES`.

The status page and its progress partial belong to the tallies slice.
"""

from __future__ import annotations

from coordinator.campaigns.web import cascade, copies, drafts, launch

ROUTES = [*copies.ROUTES, *drafts.ROUTES, *launch.ROUTES, *cascade.ROUTES]
