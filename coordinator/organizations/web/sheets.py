"""What the organization pages share: the indented organization picker and printed invitations."""

from __future__ import annotations

from collections.abc import Iterable

import segno
from litestar.response import Template

from coordinator.auth.scope import Actor
from coordinator.organizations.invites import InviteLink
from coordinator.organizations.service import OrganizationLine
from coordinator.web.context import AnyRequest, page

INVITE_PAGE = "organizations/invite.html"


def qr_svg(link: str) -> str:
    """An inline SVG QR code (no inline styles, so the CSP allows it)."""
    return str(segno.make(link, error="m").svg_inline(scale=4, border=2, title=link))


def organization_options(lines: Iterable[OrganizationLine]) -> list[tuple[int | None, str]]:
    """(id, name) for a select, indented by depth so the tree shows in the list."""
    return [(line.organization.id, "· " * line.depth + line.organization.name) for line in lines]


def invite_sheet_page(
    request: AnyRequest,
    actor: Actor,
    title: str,
    crumb: tuple[str, str],
    sheet: Iterable[tuple[str, InviteLink]],
    *,
    group: bool = False,
) -> Template:
    """A printable sheet of invitations: each with its name, link and QR code."""
    return page(
        request,
        INVITE_PAGE,
        title=title,
        actor=actor,
        crumbs=[crumb],
        sheet=[(name, link, qr_svg(link.link)) for name, link in sheet],
        group=group,
    )
