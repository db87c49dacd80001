"""One's own account: the password and the signed-in sessions (one per device)."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import service as auth
from coordinator.auth import sessions
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
from coordinator.web.security import ROTATE, session_id_of

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
        "auth/account.html",
        title=translate(locale_of(request), "Your account"),
        actor=actor,
        status_code=status,
        sessions=[
            (row, describe_agent(row.user_agent), sessions.is_current(row, current)) for row in rows
        ],
        errors=errors,
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


ROUTES = [account_page, change_own_password, end_session, end_other_sessions]
