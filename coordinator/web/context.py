"""What every page shares: the signed-in actor, language, flash messages, navigation, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.auth.models import User
from coordinator.auth.scope import Actor, actor_for
from coordinator.db import Database
from coordinator.errors import DomainError, Forbidden, Invalid, NotFound
from coordinator.i18n import LOCALES, translate

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


# A form shown again with its errors next to the fields is a normal page: browsers log a 4xx
# document as a console error, and htmx does not swap 4xx answers.
FORM_ERROR = 200


class SignInRequired(Exception):
    """No signed-in user: pages answer with the sign-in page."""


class SecondFactorSetupRequired(Exception):
    """The user's role must use a second factor and they have none yet."""


# What a user who must first set up a second factor may still open.
SETUP_PATHS = ("/account/mfa", "/signout", "/language")


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    roles: tuple[str, ...]
    needs_sandbox: bool = False


ALL = ("admin", "coordinator", "lead", "leadership")
NAV = (
    NavItem("/", "Dashboard", ALL),
    NavItem("/campaigns", "Campaigns", ALL),
    NavItem("/participation", "Participation", ALL),
    NavItem("/organizations", "Organizations", ALL),
    NavItem("/members", "Members", ("admin", "coordinator", "lead")),
    NavItem("/agreements", "Agreements", ALL),
    NavItem("/simulator", "Volunteer simulator", ("admin", "coordinator", "lead"), True),
    NavItem("/users", "Users", ("admin",)),
    NavItem("/audit", "Audit log", ("admin",)),
    NavItem("/outbox", "Outbox", ("admin",)),
    NavItem("/tokens", "API tokens", ALL),
    NavItem("/digests", "Telegram digests", ("admin", "lead", "leadership")),
)


def locale_of(request: AnyRequest) -> str:
    lang = request.session.get("lang") if _has_session(request) else None
    return lang if lang in LOCALES else "vi"


def _has_session(request: AnyRequest) -> bool:
    return "session" in request.scope


def flash(request: AnyRequest, message: str, category: str = "ok", **values: Any) -> None:
    """A message for the next page; the text is translated when it is shown."""
    flashes = list(request.session.get("flashes", []))
    flashes.append({"message": message, "category": category, "values": values})
    request.session["flashes"] = flashes


def _pop_flashes(request: AnyRequest, lang: str) -> list[dict[str, str]]:
    flashes = request.session.pop("flashes", []) if _has_session(request) else []
    return [
        {
            "text": translate(lang, f["message"], **f.get("values", {})),
            "category": f.get("category", "ok"),
        }
        for f in flashes
    ]


def is_htmx(request: AnyRequest) -> bool:
    return request.headers.get("hx-request") == "true"


def sandbox_url(request: AnyRequest) -> str | None:
    url = getattr(request.app.state, "sandbox_url", None)
    return str(url) if url else None


def page(
    request: AnyRequest,
    template: str,
    *,
    title: str,
    actor: Actor | None = None,
    status_code: int = 200,
    crumbs: list[tuple[str, str]] | None = None,
    **context: Any,
) -> Template:
    """A full page (or, for htmx partials, just the template) with the shared context."""
    lang = locale_of(request)
    has_sandbox = sandbox_url(request) is not None
    nav = [
        item
        for item in NAV
        if actor is not None
        and actor.role in item.roles
        and (has_sandbox or not item.needs_sandbox)
    ]
    shared = {
        "_": partial(translate, lang),
        "lang": lang,
        "actor": actor,
        "can": policy.rights(actor) if actor is not None else None,
        "username": request.session.get("username") if _has_session(request) else None,
        "nav": nav,
        "path": request.url.path,
        "title": title,
        "crumbs": crumbs or [],
        "flashes": [] if "partials/" in template else _pop_flashes(request, lang),
    }
    return Template(template, context={**shared, **context}, status_code=status_code)


def redirect(path: str) -> Redirect:
    return Redirect(path=path, status_code=303)


def bot_not_ready(request: AnyRequest, back: str) -> Redirect:
    """A link asked for before the bot's name is known: say so on the page it came from."""
    from coordinator.bots.identity import BOT_NOT_KNOWN

    flash(request, BOT_NOT_KNOWN, "error")
    return redirect(back)


def client_address(request: AnyRequest) -> str:
    """The client's address as the edge resolved it (forwarded only by trusted proxies): what
    sign-in and second-factor throttling count attempts by."""
    return request.client.host if request.client else ""


def form_int(value: Any) -> int | None:
    """A whole number from a form field, or None when it is empty or not a number."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def form_ints(value: Any) -> list[int]:
    """Every number of a repeated field (checkboxes); one value arrives as a plain string."""
    values = value if isinstance(value, list) else [value]
    return [n for n in (form_int(v) for v in values) if n is not None]


def field_errors(exc: Invalid, lang: str) -> dict[str, str]:
    """Field -> translated message, for showing next to the inputs."""
    out: dict[str, str] = {}
    for error in exc.errors or []:
        name = str(error.get("field", ""))
        out.setdefault(name, translate(lang, str(error.get("message", ""))))
    return out


async def actor_from_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The signed-in user of this browser session, checked against the database each time:
    how the page router resolves its actor (`policy.actor_of`)."""
    user_id = connection.session.get("user_id")
    if not isinstance(user_id, int):
        raise SignInRequired
    db: Database = connection.app.state.db
    async with db.read() as session:
        user = await session.get(User, user_id)
        if user is None or not user.active:
            connection.clear_session()
            raise SignInRequired
        if connection.session.get("mfa_setup") and not connection.url.path.startswith(SETUP_PATHS):
            raise SecondFactorSetupRequired
        return await actor_for(session, user)


def sign_in_required(request: AnyRequest, exc: SignInRequired) -> Response[Any]:
    target = "/signin?next=" + quote(request.url.path)
    if is_htmx(request):
        return Response(content="", status_code=401, headers={"HX-Redirect": target})
    return redirect(target)


def second_factor_setup(request: AnyRequest, exc: SecondFactorSetupRequired) -> Response[Any]:
    if is_htmx(request):
        return Response(content="", status_code=401, headers={"HX-Redirect": "/account/mfa"})
    return redirect("/account/mfa")


ERROR_TEXT = {
    404: "This page does not exist, or you may not see it.",
    403: "Your role does not allow this.",
}


def domain_error_page(request: AnyRequest, exc: DomainError) -> Response[Any]:
    """Service refusals shown as a page (or a fragment for htmx), in the user's language."""
    lang = locale_of(request)
    status = exc.status
    if isinstance(exc, NotFound | Forbidden):
        message = translate(lang, ERROR_TEXT[404 if isinstance(exc, NotFound) else 403])
    else:
        message = translate(lang, exc.detail)
    template = "partials/error.html" if is_htmx(request) else "pages/error.html"
    return page(
        request,
        template,
        title=translate(lang, "Something is not right"),
        status_code=status,
        message=message,
    )


def wait_text(lang: str, seconds: float) -> str:
    """'Try again in ...' in seconds under a minute and a half, else in minutes."""
    if seconds < 90:
        return translate(
            lang, "Too many attempts. Try again in {seconds} seconds.", seconds=math.ceil(seconds)
        )
    return translate(
        lang, "Too many attempts. Try again in {minutes} minutes.", minutes=math.ceil(seconds / 60)
    )
