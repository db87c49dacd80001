"""The admins' users pages: create users, change their role, activity, password, sessions."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import mfa, policy
from coordinator.auth import service as auth
from coordinator.auth.models import ROLES
from coordinator.auth.web.mfa import admins_must_use
from coordinator.errors import Conflict, Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import translate
from coordinator.organizations.service import list_organizations
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    field_errors,
    flash,
    locale_of,
    page,
    redirect,
)

PAGE = 50
ADMINS_ONLY = [policy.guard(policy.administers)]


@get("/users", guards=ADMINS_ONLY)
async def users_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    q: Search = None,
    offset: PageOffset = 0,
) -> Template:
    return await _users(request, db, actor, q, offset, {}, {})


async def _users(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    q: str | None,
    offset: int,
    errors: dict[str, str],
    values: dict[str, Any],
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    users = await auth.list_users(db, actor, q, PAGE, max(offset, 0))
    orgs = await list_organizations(db, actor, 500, 0)
    admins = admins_must_use(request)
    return page(
        request,
        "auth/users.html",
        title=translate(lang, "Users"),
        actor=actor,
        status_code=status,
        users=users,
        q=q or "",
        roles=ROLES,
        role_options=[(r, translate(lang, r)) for r in ROLES],
        org_options=[(o.id, o.name) for o in orgs.items],
        org_names={o.id: o.name for o in orgs.items},
        errors=errors,
        values=values,
        mfa_users=await mfa.enrolled_among(db, [u.id for u in users.items if u.id]),
        mfa_required=await mfa.must_use_among(db, users.items, admins),
        mfa_roles=await mfa.required_roles(db, admins),
        mfa_fixed_roles=mfa.ALWAYS_REQUIRED,
    )


@post("/users", guards=ADMINS_ONLY)
async def create_user(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    """The new user, or the form again with its errors inline and its input kept (an HTML page:
    a handler typed `Any` would answer `application/json`)."""
    lang = locale_of(request)
    try:
        user = await auth.create_user(
            db,
            actor,
            username=str(data.get("username", "")).strip().lower(),
            password=str(data.get("password", "")),
            role=str(data.get("role", "")),
            organization_id=_int(data.get("organization_id")),
        )
    except Invalid as exc:
        errors = field_errors(exc, lang)
        return await _users(request, db, actor, None, 0, errors, _kept(data), FORM_ERROR)
    except Conflict:
        errors = {"username": translate(lang, "This username is taken.")}
        return await _users(request, db, actor, None, 0, errors, _kept(data), FORM_ERROR)
    flash(request, "User {name} created.", name=user.username)
    return redirect("/users")


@post("/users/{user_id:int}/role", guards=ADMINS_ONLY)
async def change_role(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId, data: Form
) -> Redirect:
    user = await auth.set_role(db, actor, user_id, str(data.get("role", "")))
    flash(request, "{name} is now {role}.", name=user.username, role=user.role)
    return redirect("/users")


@post("/users/{user_id:int}/active", guards=ADMINS_ONLY)
async def change_active(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId, data: Form
) -> Redirect:
    active = data.get("active") == "1"
    user = await auth.set_active(db, actor, user_id, active)
    flash(
        request,
        "{name} can sign in again." if active else "{name} can no longer sign in.",
        name=user.username,
    )
    return redirect("/users")


@post("/users/{user_id:int}/password", guards=ADMINS_ONLY)
async def change_password(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId, data: Form
) -> Redirect:
    try:
        await auth.reset_password(db, actor, user_id, str(data.get("password", "")))
    except Invalid:
        flash(request, "The password must be at least 10 characters.", "error")
        return redirect("/users")
    flash(request, "The password was changed.")
    return redirect("/users")


@post("/users/{user_id:int}/sessions/end", guards=ADMINS_ONLY)
async def end_user_sessions(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId
) -> Redirect:
    count = await auth.end_sessions_of(db, actor, user_id)
    flash(request, "{count} sessions were signed out.", count=count)
    return redirect("/users")


def _kept(data: dict[str, Any]) -> dict[str, Any]:
    """What the form shows again after an error: everything but the password."""
    return {k: v for k, v in data.items() if k != "password"}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


ROUTES = [users_page, create_user, change_role, change_active, change_password, end_user_sessions]
