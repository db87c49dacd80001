"""API tokens: one's own, created (the secret shown once) and revoked."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import service as auth
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
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
        "auth/tokens.html",
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


ROUTES = [tokens_page, create_token, revoke_token]
