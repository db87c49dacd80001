"""Sign-in (password, then the second factor when the user has one), sign-out and language."""

from __future__ import annotations

import math

from litestar import get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from coordinator.auth import service as auth
from coordinator.auth.throttle import TooManyAttempts
from coordinator.auth.web import mfa
from coordinator.http import DB
from coordinator.i18n import LOCALES, translate
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    client_address,
    flash,
    locale_of,
    page,
    redirect,
    wait_text,
)


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
    return page(request, "auth/signin.html", title=translate(lang, "Sign in"), next=next or "/")


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
    challenge = await mfa.after_password(request, db, user, target, session_lang)
    if challenge is not None:
        return challenge
    setup = await mfa.must_set_up(request, db, user)
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
        "auth/signin.html",
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


PUBLIC = [signin_form, signin, signout, language]
