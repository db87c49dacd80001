"""One member in the browser: their page, the add and edit forms, deactivate and reactivate.

Moving a member is the edit form's organization field (any organization the actor manages)."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.auth.scope import Actor
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.organizations import members
from coordinator.organizations import service as organizations
from coordinator.organizations.member_record import member_record
from coordinator.organizations.web.sheets import organization_options
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    field_errors,
    flash,
    form_int,
    form_ints,
    locale_of,
    page,
    redirect,
)

MANAGERS = [policy.guard(policy.manages_people)]
NAMES = [policy.guard(policy.sees_names)]


@get("/members/{member_id:int}", guards=NAMES)
async def member_page(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Template:
    record = await member_record(db, actor, member_id)
    lang = locale_of(request)
    return page(
        request,
        "organizations/member.html",
        title=record.member.display_name,
        actor=actor,
        crumbs=[("/members", translate(lang, "Members"))],
        record=record,
    )


async def _form(
    request: AnyRequest,
    db: DB,
    actor: Actor,
    values: dict[str, Any],
    errors: dict[str, str],
    member_id: int | None = None,
) -> Template:
    """The add or edit form, with the actor's organizations and their clubs to choose from."""
    lang = locale_of(request)
    tree = await organizations.organization_tree(db, actor)
    mine = [line for line in tree if policy.manages_organization(actor, line.organization.id or 0)]
    return page(
        request,
        "organizations/member_form.html",
        title=translate(lang, "Edit member" if member_id else "Add a member"),
        actor=actor,
        status_code=FORM_ERROR,
        crumbs=[("/members", translate(lang, "Members"))],
        member_id=member_id,
        org_options=organization_options(mine),
        club_options=[
            (c.id, f"{line.organization.name}: {c.name}") for line in mine for c in line.clubs
        ],
        locales=[("vi", "Tiếng Việt"), ("en", "English")],
        values=values,
        errors=errors,
    )


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "organization_id": form_int(data.get("organization_id")) or 0,
        "display_name": str(data.get("display_name", "")),
        "code": str(data.get("code", "")).strip() or None,
        "locale": str(data.get("locale", "vi")),
        "club_ids": form_ints(data.get("club_ids", [])),
    }


def _kept(data: dict[str, Any]) -> dict[str, Any]:
    """The input as typed, for showing the form again."""
    return {**data, **{k: v for k, v in _fields(data).items() if k in ("club_ids",)}}


@get("/members/new", guards=MANAGERS)
async def new_member_page(
    request: AnyRequest, db: DB, actor: CurrentActor, organization_id: str | None = None
) -> Template:
    values: dict[str, Any] = {
        "organization_id": form_int(organization_id),
        "locale": "vi",
        "club_ids": [],
    }
    return await _form(request, db, actor, values, {})


@post("/members", guards=MANAGERS)
async def create_member(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    try:
        member = await members.create_member(db, actor, **_fields(data))
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        errors.setdefault("form", translate(locale_of(request), exc.detail))
        return await _form(request, db, actor, _kept(data), errors)
    flash(request, "Member {name} added.", name=member.display_name)
    return redirect(f"/members/{member.id}")


@get("/members/{member_id:int}/edit", guards=MANAGERS)
async def edit_member_page(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Template:
    member, club_ids = await members.get_member(db, actor, member_id)
    policy.require_organization(actor, member.organization_id)
    values = {**member.model_dump(), "club_ids": club_ids}
    return await _form(request, db, actor, values, {}, member_id)


@post("/members/{member_id:int}", guards=MANAGERS)
async def update_member(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId, data: Form
) -> Template | Redirect:
    fields = _fields(data)
    try:
        await members.update_member(
            db,
            actor,
            member_id,
            display_name=fields["display_name"],
            code=fields["code"],
            locale=fields["locale"],
            club_ids=fields["club_ids"],
            organization_id=fields["organization_id"] or None,
        )
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        errors.setdefault("form", translate(locale_of(request), exc.detail))
        return await _form(request, db, actor, _kept(data), errors, member_id)
    flash(request, "The member was updated.")
    return redirect(f"/members/{member_id}")


@post("/members/{member_id:int}/deactivate", guards=MANAGERS)
async def deactivate_member(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Redirect:
    member = await members.deactivate_member(db, actor, member_id)
    flash(request, "{name} is deactivated: no new tasks.", name=member.display_name)
    return redirect(f"/members/{member_id}")


@post("/members/{member_id:int}/reactivate", guards=MANAGERS)
async def reactivate_member(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Redirect:
    member = await members.reactivate_member(db, actor, member_id)
    flash(request, "{name} is active again.", name=member.display_name)
    return redirect(f"/members/{member_id}")


ROUTES = [
    new_member_page,
    member_page,
    create_member,
    edit_member_page,
    update_member,
    deactivate_member,
    reactivate_member,
]
