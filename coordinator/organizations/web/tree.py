"""The organization tree in the browser: the tree, one organization with its clubs, channels and
group chats, and the invitations printed for it."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.base import plain_digits
from coordinator.bots.identity import BotNotKnown
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.organizations import agreements as agreement_service
from coordinator.organizations import invites
from coordinator.organizations import service as organizations
from coordinator.organizations.agreements import PLATFORMS
from coordinator.organizations.channels import PLATFORM_LABELS
from coordinator.organizations.web.sheets import invite_sheet_page
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    bot_not_ready,
    field_errors,
    flash,
    form_int,
    locale_of,
    page,
    redirect,
)

# Leadership sees the tree too: organizations, kinds, clubs and channels name no one; member
# counts and group chats stay with those who see named people (the service decides).
SEES_TREE = [policy.guard(policy.sees_organizations)]


@get("/organizations", guards=SEES_TREE)
async def organizations_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return page(
        request,
        "organizations/organizations.html",
        title=translate(locale_of(request), "Organizations"),
        actor=actor,
        lines=await organizations.organization_tree(db, actor),
    )


@get("/organizations/{org_id:int}", guards=SEES_TREE)
async def organization_page(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId
) -> Template:
    return await _organization(request, db, actor, org_id, {}, {})


async def _organization(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    org_id: PathId,
    errors: dict[str, str],
    values: dict[str, Any],
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    org = await organizations.get_organization(db, actor, org_id)
    clubs = await organizations.list_clubs(db, actor, org_id, 500, 0)
    channels = await agreement_service.list_channels(db, actor, org_id, 500, 0)
    manageable = policy.manages_organization(actor, org_id)
    groups = await invites.list_group_chats(db, actor, org_id, 500, 0) if manageable else None
    return page(
        request,
        "organizations/organization.html",
        title=org.name,
        actor=actor,
        status_code=status,
        crumbs=[("/organizations", translate(lang, "Organizations"))],
        org=org,
        clubs=clubs.items,
        channels=channels.items,
        groups=groups.items if groups else [],
        platforms=[(p, translate(lang, PLATFORM_LABELS[p])) for p in PLATFORMS],
        deployment_cap=request.app.state.settings.weekly_task_cap,
        errors=errors,
        values=values,
    )


@post("/organizations/{org_id:int}/clubs")
async def add_club(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId, data: Form
) -> Template | Redirect:
    try:
        club = await organizations.create_club(
            db, actor, organization_id=org_id, name=str(data.get("name", ""))
        )
    except Invalid as exc:
        errors = {f"club_{k}": v for k, v in field_errors(exc, locale_of(request)).items()}
        return await _organization(request, db, actor, org_id, errors, data, FORM_ERROR)
    flash(request, "Club {name} added.", name=club.name)
    return redirect(f"/organizations/{org_id}")


@post("/organizations/{org_id:int}/channels")
async def add_channel(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId, data: Form
) -> Template | Redirect:
    try:
        channel = await agreement_service.create_channel(
            db,
            actor,
            organization_id=org_id,
            platform=str(data.get("platform", "")),
            url=str(data.get("url", "")),
            name=str(data.get("name", "")),
        )
    except Invalid as exc:
        errors = {f"channel_{k}": v for k, v in field_errors(exc, locale_of(request)).items()}
        return await _organization(request, db, actor, org_id, errors, data, FORM_ERROR)
    flash(request, "Channel {name} registered.", name=channel.name)
    return redirect(f"/organizations/{org_id}")


@post("/organizations/{org_id:int}/task-cap")
async def set_task_cap(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId, data: Form
) -> Template | Redirect:
    """Fair load: the organization's weekly cap on tasks per member."""
    raw = str(data.get("weekly_task_cap", "")).strip()
    try:
        if raw and not plain_digits(raw):
            raise Invalid(
                "The cap cannot be saved.",
                errors=[
                    {
                        "field": "weekly_task_cap",
                        "message": "a whole number from 1 to 100, or empty",
                    }
                ],
            )
        await organizations.set_weekly_task_cap(db, actor, org_id, int(raw) if raw else None)
    except Invalid as exc:
        errors = {f"cap_{k}": v for k, v in field_errors(exc, locale_of(request)).items()}
        return await _organization(request, db, actor, org_id, errors, data, FORM_ERROR)
    flash(request, "Weekly cap saved.")
    return redirect(f"/organizations/{org_id}")


@post("/organizations/{org_id:int}/group-link")
async def group_link(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId, data: Form
) -> Template | Redirect:
    try:
        link = await invites.group_invite(db, actor, org_id, form_int(data.get("club_id")))
    except BotNotKnown:
        return bot_not_ready(request, f"/organizations/{org_id}")
    org = await organizations.get_organization(db, actor, org_id)
    return invite_sheet_page(
        request,
        actor,
        translate(locale_of(request), "Group chat link"),
        (f"/organizations/{org_id}", org.name),
        [(org.name, link)],
        group=True,
    )


@post("/organizations/{org_id:int}/invites")
async def invite_sheet(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId
) -> Template | Redirect:
    org = await organizations.get_organization(db, actor, org_id)
    try:
        links = await invites.organization_invites(db, actor, org_id)
    except BotNotKnown:
        return bot_not_ready(request, f"/organizations/{org_id}")
    return invite_sheet_page(
        request,
        actor,
        translate(locale_of(request), "Invitations to print"),
        (f"/organizations/{org_id}", org.name),
        [(member.display_name, link) for member, link in links],
    )


ROUTES = [
    organizations_page,
    organization_page,
    add_club,
    add_channel,
    set_task_cap,
    group_link,
    invite_sheet,
]
