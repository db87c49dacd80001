"""An agreement's focal points: each party (its lead first) with the users who receive its
campaigns, flagged when none is linked in Telegram, and a form to name or remove them for the
parties the actor may (policy `names_focal_points`; the service checks and audits it)."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.campaigns import cascade_service
from coordinator.errors import Invalid, NotFound
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.organizations import focal_points
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


@get("/agreements/{agreement_id:int}/focal-points")
async def focal_points_page(
    request: AnyRequest, db: DB, actor: CurrentActor, agreement_id: PathId
) -> Template:
    return await _page(request, db, actor, agreement_id, None, {})


async def _page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    agreement_id: int,
    failed: int | None,
    errors: dict[str, str],
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    agreement, parties = await focal_points.of_agreement(db, actor, agreement_id)
    return page(
        request,
        "organizations/focal_points.html",
        title=translate(lang, "Focal points"),
        actor=actor,
        status_code=status,
        crumbs=[("/agreements", translate(lang, "Agreements"))],
        agreement=agreement,
        parties=parties,
        failed=failed,
        errors=errors,
    )


@post("/agreements/{agreement_id:int}/focal-points")
async def name_focal_points(
    request: AnyRequest, db: DB, actor: CurrentActor, agreement_id: PathId, data: Form
) -> Template | Redirect:
    """Exactly the ticked users become the party's focal points (none ticked: none left)."""
    org = form_int(data.get("organization_id"))
    _, parties = await focal_points.of_agreement(db, actor, agreement_id)
    party: Any = next((p for p in parties if p.organization_id == org), None)
    if party is None:
        raise NotFound("No such party to this agreement.")
    try:
        await cascade_service.set_focal_points(
            db, actor, party.organization_id, form_ints(data.get("user_ids", [])), agreement_id
        )
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        return await _page(request, db, actor, agreement_id, org, errors, FORM_ERROR)
    flash(request, "Focal points of {organization} saved.", organization=party.name)
    return redirect(f"/agreements/{agreement_id}/focal-points")


ROUTES = [focal_points_page, name_focal_points]
