"""Sign-in, sign-out, language, and the admin pages: users, audit log, API tokens."""

from __future__ import annotations

import math
from typing import Any

from litestar import get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from coordinator.auth import mfa, sessions
from coordinator.auth import service as auth
from coordinator.auth.models import ROLES
from coordinator.auth.scope import require_role
from coordinator.auth.throttle import TooManyAttempts
from coordinator.bots.identity import BotNotKnown
from coordinator.errors import Conflict, Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import LOCALES, translate
from coordinator.organizations import invites, onboarding
from coordinator.organizations.service import list_organizations
from coordinator.web import mfa_pages
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    bot_not_ready,
    client_address,
    field_errors,
    flash,
    locale_of,
    page,
    redirect,
    wait_text,
)
from coordinator.web.security import ROTATE, session_id_of

PAGE = 50


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@get("/signin", name="signin")
async def signin_form(request: AnyRequest, next: FromQuery[str | None] = None) -> Template:
    if request.session.get("user_id"):
        return redirect(_safe_next(next))  # type: ignore[return-value]
    lang = locale_of(request)
    return page(request, "pages/signin.html", title=translate(lang, "Sign in"), next=next or "/")


@post("/signin")
async def signin(request: AnyRequest, db: DB, data: Form) -> Template | Redirect:
    lang = locale_of(request)
    username = str(data.get("username", "")).strip().lower()[:64]
    password = str(data.get("password", ""))
    target = _safe_next(data.get("next"))
    address = client_address(request)
    try:  # an empty field is not an attempt: nothing to count
        user = (
            await auth.sign_in(db, username, password, address) if username and password else None
        )
    except TooManyAttempts as exc:
        return _throttled(request, lang, username, target, exc)
    if user is None:
        error = translate(lang, "Wrong username or password.")
        return _signin_again(request, lang, username, target, error, FORM_ERROR)
    session_lang = request.session.get("lang") or user.locale
    challenge = await mfa_pages.after_password(request, db, user, target, session_lang)
    if challenge is not None:
        return challenge
    setup = await mfa_pages.must_set_up(request, db, user)
    request.set_session(
        {
            "user_id": user.id,
            "username": user.username,
            "lang": session_lang,
            "_rotate": True,
            **({"mfa_setup": True} if setup else {}),
        }
    )
    return redirect("/account/mfa" if setup else target)


def _throttled(
    request: AnyRequest, lang: str, username: str, target: str, exc: TooManyAttempts
) -> Template:
    response = _signin_again(request, lang, username, target, wait_text(lang, exc.retry_after), 429)
    response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
    return response


def _signin_again(
    request: AnyRequest, lang: str, username: str, target: str, error: str, status: int
) -> Template:
    return page(
        request,
        "pages/signin.html",
        title=translate(lang, "Sign in"),
        status_code=status,
        username=username,
        next=target,
        error=error,
    )


@post("/signout")
async def signout(request: AnyRequest, db: DB) -> Redirect:
    lang = request.session.get("lang")
    user_id = request.session.get("user_id")
    if isinstance(user_id, int):
        await auth.signed_out(db, user_id)
    request.clear_session()
    request.set_session({"lang": lang, "_rotate": True} if lang else {"_rotate": True})
    flash(request, "You are signed out.")
    return redirect("/signin")


@post("/language")
async def language(request: AnyRequest, data: Form) -> Redirect:
    lang = data.get("lang")
    if lang in LOCALES:
        request.session["lang"] = lang
    return redirect(_safe_next(data.get("next")))


# ---- one's own account: password and sessions ----------------------------------------------


@get("/account")
async def account_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _account(request, db, actor, {})


async def _account(
    request: AnyRequest, db: DB, actor: CurrentActor, errors: dict[str, str], status: int = 200
) -> Template:
    current = session_id_of(request)
    rows = await sessions.list_own(db, actor)
    return page(
        request,
        "pages/account.html",
        title=translate(locale_of(request), "Your account"),
        actor=actor,
        status_code=status,
        sessions=[
            (row, describe_agent(row.user_agent), sessions.is_current(row, current)) for row in rows
        ],
        errors=errors,
    )


BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Zalo", "Zalo"),
    ("CocCoc", "Cốc Cốc"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_agent(agent: str) -> str:
    """'Chrome · Android' from a User-Agent, so a person can tell their devices apart; the
    agent itself (shortened) when it is none of the common ones."""
    browser = next((name for mark, name in BROWSERS if mark in agent), None)
    system = next((name for mark, name in SYSTEMS if mark in agent), None)
    if browser is None and system is None:
        return agent[:60]
    return " · ".join(part for part in (browser, system) if part)


@post("/account/password")
async def change_own_password(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    address = client_address(request)
    try:
        await auth.change_own_password(
            db,
            actor,
            str(data.get("current", "")),
            str(data.get("new", "")),
            address,
            keep=session_id_of(request),
        )
    except Invalid as exc:
        return await _account(request, db, actor, field_errors(exc, lang), FORM_ERROR)
    except TooManyAttempts as exc:
        errors = {"current": wait_text(lang, exc.retry_after)}
        return await _account(request, db, actor, errors, FORM_ERROR)
    request.session[ROTATE] = True  # a new id for this browser too
    flash(request, "Your password was changed. Your other sessions were signed out.")
    return redirect("/account")


@post("/account/sessions/{session_id:int}/end")
async def end_session(
    request: AnyRequest, db: DB, actor: CurrentActor, session_id: PathId
) -> Redirect:
    await sessions.end_own(db, actor, session_id)
    flash(request, "The session was ended.")
    return redirect("/account")


@post("/account/sessions/end-others")
async def end_other_sessions(request: AnyRequest, db: DB, actor: CurrentActor) -> Redirect:
    current = session_id_of(request)
    count = await sessions.end_others(db, actor, current or "")
    flash(request, "{count} other sessions were signed out.", count=count)
    return redirect("/account")


# ---- admin: users -------------------------------------------------------------------------


@get("/users")
async def users_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    q: Search = None,
    offset: PageOffset = 0,
) -> Template:
    require_role(actor)
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
    return page(
        request,
        "pages/users.html",
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
        mfa_roles=await mfa_pages.required_roles(request, db),
    )


@post("/users")
async def create_user(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Any:
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
        return await _users(request, db, actor, None, 0, field_errors(exc, lang), data, FORM_ERROR)
    except Conflict as exc:
        errors = {"username": translate(lang, "This username is taken.")}
        del exc
        return await _users(request, db, actor, None, 0, errors, data, FORM_ERROR)
    flash(request, "User {name} created.", name=user.username)
    return redirect("/users")


@post("/users/{user_id:int}/role")
async def change_role(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId, data: Form
) -> Redirect:
    user = await auth.set_role(db, actor, user_id, str(data.get("role", "")))
    flash(request, "{name} is now {role}.", name=user.username, role=user.role)
    return redirect("/users")


@post("/users/{user_id:int}/active")
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


@post("/users/{user_id:int}/password")
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


@post("/users/{user_id:int}/sessions/end")
async def end_user_sessions(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId
) -> Redirect:
    count = await auth.end_sessions_of(db, actor, user_id)
    flash(request, "{count} sessions were signed out.", count=count)
    return redirect("/users")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---- admin: audit log ---------------------------------------------------------------------


@get("/audit")
async def audit_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    action: FromQuery[str | None] = None,
    offset: PageOffset = 0,
) -> Template:
    lang = locale_of(request)
    events = await auth.list_audit(db, actor, action, PAGE, max(offset, 0))
    return page(
        request,
        "pages/audit.html",
        title=translate(lang, "Audit log"),
        actor=actor,
        events=events,
        action=action or "",
    )


# ---- API tokens ---------------------------------------------------------------------------


@get("/tokens")
async def tokens_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _tokens(request, db, actor, new_token=None)


async def _tokens(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    new_token: str | None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    return page(
        request,
        "pages/tokens.html",
        title=translate(lang, "API tokens"),
        actor=actor,
        status_code=status,
        tokens=await auth.list_tokens(db, actor),
        new_token=new_token,
        errors=errors or {},
    )


@post("/tokens")
async def create_token(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Template:
    assert actor.user_id is not None
    try:
        token = await auth.create_token(db, actor, actor.user_id, str(data.get("name", "")))
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        return await _tokens(request, db, actor, None, errors, FORM_ERROR)
    return await _tokens(request, db, actor, token)


@post("/tokens/{token_id:int}/revoke")
async def revoke_token(
    request: AnyRequest, db: DB, actor: CurrentActor, token_id: PathId
) -> Redirect:
    await auth.revoke_token(db, actor, token_id)
    flash(request, "The token was revoked.")
    return redirect("/tokens")


DIGEST_ROLES = ("lead", "leadership")


@get("/digests")
async def telegram_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    require_role(actor, *DIGEST_ROLES)
    return await _telegram(request, db, actor, link=None)


async def _telegram(
    request: AnyRequest, db: DB, actor: CurrentActor, link: invites.InviteLink | None
) -> Template:
    assert actor.user_id is not None
    return page(
        request,
        "pages/telegram.html",
        title=translate(locale_of(request), "Telegram digests"),
        actor=actor,
        linked=await onboarding.user_linked(db, actor.user_id),
        link=link,
    )


@post("/digests/link")
async def telegram_link(request: AnyRequest, db: DB, actor: CurrentActor) -> Template | Redirect:
    require_role(actor, *DIGEST_ROLES)
    try:
        link = await invites.user_invite(db, actor)
    except BotNotKnown:
        return bot_not_ready(request, "/digests")
    return await _telegram(request, db, actor, link)


@post("/digests/unlink")
async def telegram_unlink(request: AnyRequest, db: DB, actor: CurrentActor) -> Redirect:
    require_role(actor, *DIGEST_ROLES)
    assert actor.user_id is not None
    await onboarding.unlink_user(db, actor.user_id)
    flash(request, "Telegram disconnected: no more digests.")
    return redirect("/digests")


PUBLIC = [signin_form, signin, signout, language]
PAGES = [
    account_page,
    change_own_password,
    end_session,
    end_other_sessions,
    users_page,
    create_user,
    change_role,
    change_active,
    change_password,
    end_user_sessions,
    audit_page,
    tokens_page,
    create_token,
    revoke_token,
    telegram_page,
    telegram_link,
    telegram_unlink,
]
