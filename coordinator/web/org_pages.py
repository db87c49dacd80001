"""Organizations, clubs, channels, members (import, invites) and agreements in the browser."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Annotated, Any

import segno
from litestar import get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from coordinator.auth import scope
from coordinator.bots.identity import BotNotKnown
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import translate
from coordinator.organizations import agreements as agreement_service
from coordinator.organizations import importer, invites, members
from coordinator.organizations import service as organizations
from coordinator.organizations.agreements import PLATFORMS
from coordinator.organizations.members import MEMBER_STATES
from coordinator.organizations.service import OrganizationLine
from coordinator.organizations.uploads import FileRefused
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

PAGE = 50


def qr_svg(link: str) -> str:
    """An inline SVG QR code (no inline styles, so the CSP allows it)."""
    return str(segno.make(link, error="m").svg_inline(scale=4, border=2, title=link))


def _options(lines: Iterable[OrganizationLine]) -> list[tuple[int | None, str]]:
    """(id, name) for a select, indented by depth so the tree shows in the list."""
    return [(line.organization.id, "· " * line.depth + line.organization.name) for line in lines]


# ---- organizations ------------------------------------------------------------------------


@get("/organizations")
async def organizations_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    scope.require_role(actor, "coordinator", "lead")
    lang = locale_of(request)
    return page(
        request,
        "pages/organizations.html",
        title=translate(lang, "Organizations"),
        actor=actor,
        lines=await organizations.organization_tree(db, actor),
    )


@get("/organizations/{org_id:int}")
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
    scope.require_role(actor, "coordinator", "lead")
    lang = locale_of(request)
    org = await organizations.get_organization(db, actor, org_id)
    clubs = await organizations.list_clubs(db, actor, org_id, 500, 0)
    channels = await agreement_service.list_channels(db, actor, org_id, 500, 0)
    manageable = actor.is_admin or (actor.role == "lead" and org_id in actor.subtree)
    groups = await invites.list_group_chats(db, actor, org_id, 500, 0) if manageable else None
    return page(
        request,
        "pages/organization.html",
        title=org.name,
        actor=actor,
        status_code=status,
        crumbs=[("/organizations", translate(lang, "Organizations"))],
        org=org,
        clubs=clubs.items,
        channels=channels.items,
        groups=groups.items if groups else [],
        manageable=manageable,
        platforms=[(p, p) for p in PLATFORMS],
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


@post("/organizations/{org_id:int}/group-link")
async def group_link(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    club_id = form_int(data.get("club_id"))
    try:
        link = await invites.group_invite(db, actor, org_id, club_id)
    except BotNotKnown:
        return bot_not_ready(request, f"/organizations/{org_id}")
    org = await organizations.get_organization(db, actor, org_id)
    return page(
        request,
        "pages/invite.html",
        title=translate(lang, "Group chat link"),
        actor=actor,
        crumbs=[(f"/organizations/{org_id}", org.name)],
        sheet=[(org.name, link, qr_svg(link.link))],
        group=True,
    )


@post("/organizations/{org_id:int}/invites")
async def invite_sheet(
    request: AnyRequest, db: DB, actor: CurrentActor, org_id: PathId
) -> Template | Redirect:
    lang = locale_of(request)
    org = await organizations.get_organization(db, actor, org_id)
    try:
        links = await invites.organization_invites(db, actor, org_id)
    except BotNotKnown:
        return bot_not_ready(request, f"/organizations/{org_id}")
    return page(
        request,
        "pages/invite.html",
        title=translate(lang, "Invitations to print"),
        actor=actor,
        crumbs=[(f"/organizations/{org_id}", org.name)],
        sheet=[(m.display_name, link, qr_svg(link.link)) for m, link in links],
        group=False,
    )


# ---- members ------------------------------------------------------------------------------


@get("/members")
async def members_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    organization_id: FromQuery[str | None] = None,
    club_id: FromQuery[str | None] = None,
    member_state: Annotated[str | None, QueryParameter(query="state")] = None,
    q: Search = None,
    offset: PageOffset = 0,
) -> Template:
    lang = locale_of(request)
    org, club = form_int(organization_id), form_int(club_id)
    state = member_state if member_state in MEMBER_STATES else None
    found, club_map = await members.list_members(
        db,
        actor,
        organization_id=org,
        club_id=club,
        limit=PAGE,
        offset=max(offset, 0),
        state=state,
        search=q,
    )
    tree = await organizations.organization_tree(db, actor)
    mine = [line for line in tree if actor.is_admin or line.organization.id in actor.subtree]
    club_names = {c.id: c.name for line in mine for c in line.clubs}
    query = f"organization_id={org or ''}&club_id={club or ''}&state={state or ''}&q={q or ''}&"
    return page(
        request,
        "pages/members.html",
        title=translate(lang, "Members"),
        actor=actor,
        members=found,
        member_clubs={
            member_id: ", ".join(club_names.get(c, str(c)) for c in ids)
            for member_id, ids in club_map.items()
        },
        org_names={line.organization.id: line.organization.name for line in tree},
        org_options=_options(mine),
        club_options=[(c.id, c.name) for line in mine for c in line.clubs],
        states=list(MEMBER_STATES),
        filters={"organization_id": org, "club_id": club, "state": state, "q": q or ""},
        query=query,
        can_manage=actor.is_admin or actor.role == "lead",
    )


@post("/members/{member_id:int}/invite")
async def member_invite(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Template | Redirect:
    lang = locale_of(request)
    member, _ = await members.get_member(db, actor, member_id)
    try:
        link = await invites.member_invite(db, actor, member_id)
    except BotNotKnown:
        return bot_not_ready(request, "/members")
    return page(
        request,
        "pages/invite.html",
        title=translate(lang, "Invitation"),
        actor=actor,
        crumbs=[("/members", translate(lang, "Members"))],
        sheet=[(member.display_name, link, qr_svg(link.link))],
        group=False,
    )


def _uploads(request: AnyRequest) -> Any:
    folder = request.app.state.settings.var_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@get("/members/import")
async def import_form(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _import_page(request, db, actor)


async def _import_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    status: int = 200,
    **context: Any,
) -> Template:
    if not (actor.is_admin or actor.role == "lead"):
        scope.require_role(actor)
    lang = locale_of(request)
    tree = await organizations.organization_tree(db, actor)
    return page(
        request,
        "pages/import.html",
        title=translate(lang, "Import members"),
        actor=actor,
        status_code=status,
        crumbs=[("/members", translate(lang, "Members"))],
        org_options=_options(line for line in tree if line.manageable),
        **context,
    )


@post("/members/import")
async def import_preview(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template:
    """Check the whole file and show what would change; nothing is saved yet."""
    lang = locale_of(request)
    org_id = form_int(data.get("organization_id")) or 0
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _import_page(
            request,
            db,
            actor,
            FORM_ERROR,
            errors={"file": translate(lang, "Choose a file.")},
            org=org_id,
        )
    content = await upload.read(importer.MAX_BYTES + 1)
    try:
        preview = await importer.import_members(
            db, actor, org_id, content, upload.filename, dry_run=True
        )
    except Invalid as exc:
        return await _import_page(
            request,
            db,
            actor,
            FORM_ERROR,
            problem=_refusal(lang, exc),
            row_errors=exc.errors or [],
            org=org_id,
        )
    key = secrets.token_urlsafe(16)
    (_uploads(request) / key).write_bytes(content)
    request.session["import"] = {"key": key, "filename": upload.filename, "org": org_id}
    return await _import_page(
        request, db, actor, preview=preview, filename=upload.filename, org=org_id
    )


@post("/members/import/confirm")
async def import_confirm(request: AnyRequest, db: DB, actor: CurrentActor) -> Redirect:
    pending = request.session.pop("import", None)
    if not pending:
        flash(request, "Nothing to import: upload the file again.", "error")
        return redirect("/members/import")
    path = _uploads(request) / pending["key"]
    try:
        content = path.read_bytes()
    except OSError:
        flash(request, "Nothing to import: upload the file again.", "error")
        return redirect("/members/import")
    try:
        result = await importer.import_members(
            db, actor, pending["org"], content, pending["filename"]
        )
    except Invalid:
        flash(request, "The file no longer fits the data; check it again.", "error")
        return redirect("/members/import")
    finally:
        path.unlink(missing_ok=True)
    flash(
        request,
        "Imported: {created} new, {updated} updated, {unchanged} unchanged.",
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )
    if result.warnings:
        flash(
            request,
            "{n} value(s) start like a spreadsheet formula; they were kept as typed.",
            "warning",
            n=len(result.warnings),
        )
    return redirect(f"/members?organization_id={pending['org']}")


def _refusal(lang: str, exc: Invalid) -> str:
    """A refused file says why in the reader's language, with its limits filled in."""
    if isinstance(exc, FileRefused):
        return translate(lang, exc.message, **exc.values)
    return translate(lang, exc.detail)


PAGES = [
    organizations_page,
    organization_page,
    add_club,
    add_channel,
    group_link,
    invite_sheet,
    members_page,
    member_invite,
    import_form,
    import_preview,
    import_confirm,
]
