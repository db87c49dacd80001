"""The organizations slice in the browser: the tree, members, imports and invitations; its route
list is mounted once, in `coordinator.web.pages`."""

from __future__ import annotations

from coordinator.organizations.web import imports, members, tree

ROUTES = [*tree.ROUTES, *members.ROUTES, *imports.ROUTES]
