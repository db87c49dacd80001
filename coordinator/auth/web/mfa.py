"""Second-factor pages: the code step of sign-in, enrolment, removal and the admins' rules."""

from __future__ import annotations

import time
from typing import Any

import segno
from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import mfa, policy
from coordinator.auth.models import ROLES, User
from coordinator.auth.scope import Actor
from coordinator.auth.throttle import TooManyAttempts
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    client_address,
    field_errors,
    flash,
    locale_of,
    page,
    redirect,
    wait_text,
)

CODE_STEP_SECONDS = 300  # a password is good for a code step this long
CODE_ATTEMPTS = 5


async def after_password(
    request: AnyRequest, db: DB, user: User, target: str, lang: str
) -> Redirect | None:
    """Ask for the code when the user has a second factor; otherwise note whether they must
    set one up. None means: sign in as usual (the caller sets the session)."""
    assert user.id is not None
    if await mfa.enrolled(db, user.id):
        request.set_session(
            {
                "mfa_user_id": user.id,
                "mfa_since": time.time(),
                "mfa_attempts": 0,
                "next": target,
                "lang": lang,
                "_rotate": True,
            }
        )
        return redirect("/signin/code")
    return None


def admins_must_use(request: AnyRequest) -> bool:
    """The deployment's setting: admins must use a second factor (off for trainings)."""
    return bool(request.app.state.settings.mfa_admins_required)


async def must_set_up(request: AnyRequest, db: DB, user: User) -> bool:
    return await mfa.must_use(db, user, admins_must_use(request))


async def _must_keep(request: AnyRequest, db: DB, actor: Actor) -> bool:
    return await mfa.must_use(db, actor, admins_must_use(request))


@get("/signin/code")
async def code_form(request: AnyRequest) -> Template | Redirect:
    if not _pending_user(request):
        return redirect("/signin")
    lang = locale_of(request)
    return page(request, "auth/signin_code.html", title=translate(lang, "Sign in"))


@post("/signin/code")
async def code(request: AnyRequest, db: DB, data: Form) -> Template | Redirect:
    lang = locale_of(request)
    user_id = _pending_user(request)
    if user_id is None:
        flash(request, "Sign in again: the code step expired.")
        return redirect("/signin")
    settings = request.app.state.settings
    code = str(data.get("code", ""))[:32]
    try:
        right = await mfa.checked(db, user_id, code, settings.secret_key, client_address(request))
    except TooManyAttempts as exc:
        return page(
            request,
            "auth/signin_code.html",
            title=translate(lang, "Sign in"),
            status_code=429,
            error=wait_text(lang, exc.retry_after),
        )
    if not right:
        request.session["mfa_attempts"] = int(request.session.get("mfa_attempts", 0)) + 1
        error = translate(lang, "That code is not right. Try the newest code in your app.")
        return page(
            request,
            "auth/signin_code.html",
            title=translate(lang, "Sign in"),
            status_code=FORM_ERROR,
            error=error,
        )
    async with db.read() as session:
        user = await session.get(User, user_id)
    if user is None or not user.active:
        request.clear_session()
        return redirect("/signin")
    target = str(request.session.get("next") or "/")
    request.set_session(
        {
            "user_id": user.id,
            "username": user.username,
            "lang": request.session.get("lang") or user.locale,
            "_rotate": True,
        }
    )
    return redirect(target)


def _pending_user(request: AnyRequest) -> int | None:
    """The user who gave the right password a moment ago, while the code step is open."""
    user_id = request.session.get("mfa_user_id")
    since = float(request.session.get("mfa_since") or 0)
    attempts = int(request.session.get("mfa_attempts") or 0)
    fresh = time.time() - since < CODE_STEP_SECONDS and attempts < CODE_ATTEMPTS
    return user_id if isinstance(user_id, int) and fresh else None


def _me(actor: Actor) -> int:
    assert actor.user_id is not None  # a browser session is always a user's
    return actor.user_id


@get("/account/mfa")
async def enrolment(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _enrolment_page(request, db, actor, {})


async def _enrolment_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    errors: dict[str, str],
    codes: list[str] | None = None,
) -> Template:
    lang = locale_of(request)
    enrolled = await mfa.enrolled(db, _me(actor))
    context: dict[str, Any] = {"enrolled": enrolled, "codes": codes, "errors": errors}
    if not enrolled:
        seed = request.session.get("mfa_seed") or mfa.new_seed()
        request.session["mfa_seed"] = seed  # server-side session: never in a cookie
        uri = mfa.provisioning_uri(seed, str(request.session.get("username") or _me(actor)))
        context |= {"seed": seed, "qr": segno.make(uri).svg_inline(scale=4)}
    context["required"] = await _must_keep(request, db, actor)
    return page(
        request,
        "auth/mfa.html",
        title=translate(lang, "Second factor"),
        actor=actor,
        status_code=FORM_ERROR if errors else 200,
        **context,
    )


@post("/account/mfa")
async def confirm(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Template:
    seed = request.session.get("mfa_seed")
    if not seed:
        return await _enrolment_page(request, db, actor, {})
    settings = request.app.state.settings
    code = str(data.get("code", ""))[:32]
    try:
        codes = await mfa.confirm(db, _me(actor), seed, code, settings.secret_key)
    except Invalid as exc:
        return await _enrolment_page(request, db, actor, field_errors(exc, locale_of(request)))
    request.session.pop("mfa_seed", None)
    request.session.pop("mfa_setup", None)
    return await _enrolment_page(request, db, actor, {}, codes=codes)


@post("/account/mfa/remove")
async def remove_own(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    if await _must_keep(request, db, actor):
        flash(request, "Your role must use a second factor; it cannot be removed.")
        return redirect("/account/mfa")
    password, code = str(data.get("password", ""))[:200], str(data.get("code", ""))[:32]
    try:
        secret_key = request.app.state.settings.secret_key
        await mfa.remove_own(db, actor, password, code, secret_key, client_address(request))
    except (Invalid, TooManyAttempts) as exc:
        lang = locale_of(request)
        errors = (
            field_errors(exc, lang)
            if isinstance(exc, Invalid)
            else {"code": wait_text(lang, exc.retry_after)}
        )
        return await _enrolment_page(request, db, actor, errors)
    flash(request, "The second factor was removed.")
    return redirect("/account/mfa")


@post("/users/{user_id:int}/mfa/remove", guards=[policy.guard(policy.administers)])
async def remove_for_user(
    request: AnyRequest, db: DB, actor: CurrentActor, user_id: PathId
) -> Redirect:
    """For a lost phone: the user signs in with the password and sets up a new app."""
    await mfa.remove(db, actor, user_id)
    flash(request, "The second factor was removed; the user sets up a new one at sign-in.")
    return redirect("/users")


@post("/users/mfa-policy", guards=[policy.guard(policy.administers)])
async def required_roles(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Redirect:
    chosen = data.get("roles", [])
    roles = {chosen} if isinstance(chosen, str) else set(chosen)
    await mfa.set_required_roles(db, actor, {r for r in roles if r in ROLES})
    flash(request, "Second-factor rules saved; they apply from each user's next sign-in.")
    return redirect("/users")


PUBLIC = [code_form, code]
ROUTES = [enrolment, confirm, remove_own, remove_for_user, required_roles]
