"""The organizations slice in the browser: the tree, members, imports, invitations and
agreements; its route list is mounted once, in `coordinator.web.pages`."""

from __future__ import annotations

from coordinator.organizations.web import (
    agreements,
    focal_points,
    imports,
    member,
    member_bulk,
    members,
    tree,
)

ROUTES = [
    *tree.ROUTES,
    *members.ROUTES,
    *member.ROUTES,
    *member_bulk.ROUTES,
    *imports.ROUTES,
    *agreements.ROUTES,
    *focal_points.ROUTES,
]
