"""What every page shares: language, flash messages, navigation, the sign-in and error pages.

The signed-in actor is resolved by `coordinator.auth.actors.actor_from_session`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.auth.actors import SecondFactorSetupRequired, SignInRequired
from coordinator.auth.scope import Actor
from coordinator.errors import DomainError, Forbidden, Invalid, NotFound
from coordinator.i18n import LOCALES, translate

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


# A form shown again with its errors next to the fields is a normal page: browsers log a 4xx
# document as a console error, and htmx does not swap 4xx answers.
FORM_ERROR = 200


def anyone(actor: Actor) -> bool:
    """Every signed-in user."""
    return True


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    shown_to: policy.Question  # the policy question that lets the actor open the page
    needs_sandbox: bool = False


NAV = (
    NavItem("/", "Dashboard", anyone),
    NavItem("/campaigns", "Campaigns", anyone),
    NavItem("/participation", "Participation", anyone),
    NavItem("/organizations", "Organizations", policy.sees_organizations),
    NavItem("/members", "Members", policy.sees_names),
    NavItem("/agreements", "Agreements", anyone),
    NavItem("/simulator", "Volunteer simulator", policy.sees_names, True),
    NavItem("/users", "Users", policy.administers),
    NavItem("/audit", "Audit log", policy.administers),
    NavItem("/outbox", "Outbox", policy.administers),
    NavItem("/tokens", "API tokens", anyone),
    NavItem("/digests", "My Telegram", policy.connects_own_telegram),
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
        if actor is not None and item.shown_to(actor) and (has_sandbox or not item.needs_sandbox)
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


def say(lang: str, exc: DomainError) -> str:
    """A service's refusal in the reader's language, its values filled in."""
    return translate(lang, exc.message, **exc.values)


def error_text(lang: str, error: dict[str, Any]) -> str:
    """One field or row error in the reader's language; a row's problems joined by "; "."""
    parts = error.get("problems") or [error]
    return "; ".join(
        (translate(lang, p["label"]) + ": " if p.get("label") else "")
        + translate(lang, str(p.get("message", "")), **(p.get("values") or {}))
        for p in parts
    )


def field_errors(exc: Invalid, lang: str) -> dict[str, str]:
    """Field -> translated message, for showing next to the inputs."""
    out: dict[str, str] = {}
    for error in exc.errors or []:
        out.setdefault(str(error.get("field", "")), error_text(lang, error))
    return out


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
        message = say(lang, exc)
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
