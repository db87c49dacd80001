"""Agreement pages: the list with the new-agreement form, and the editor.

An edit that would break a live campaign (a party removed, the dates changed) is not saved at
once: the editor shows the campaigns it breaks and asks to confirm (`confirm` in the form).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.base import utcnow
from coordinator.clock import local_date
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId
from coordinator.i18n import translate
from coordinator.organizations import agreements as agreement_service
from coordinator.organizations import focal_points
from coordinator.organizations import service as organizations
from coordinator.organizations.agreements import AgreementChangeBreaks, Broken
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

PAGE = 50
DRAFTERS = [policy.guard(policy.drafts_agreements, policy.AGREEMENT_REFUSED)]


@get("/agreements")
async def agreements_page(
    request: AnyRequest, db: DB, actor: CurrentActor, offset: PageOffset = 0
) -> Template:
    return await _agreements(request, db, actor, offset, {}, {})


async def _agreements(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    offset: int,
    errors: dict[str, str],
    values: dict[str, Any],
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    found, parties = await agreement_service.list_agreements(db, actor, PAGE, max(offset, 0))
    tree = await organizations.organization_tree(db, actor)
    shown = {p for ids in parties.values() for p in ids} | {
        a.lead_organization_id for a in found.items
    }
    async with db.read() as session:
        unserved = await focal_points.unserved_ids(session, shown)
        focal = await focal_points.named(session, shown)
    return page(
        request,
        "organizations/agreements.html",
        title=translate(lang, "Agreements"),
        actor=actor,
        status_code=status,
        agreements=found,
        parties=parties,
        org_names={line.organization.id: line.organization.name for line in tree},
        org_options=_lead_options(actor, tree),
        today=local_date(utcnow()),
        unserved=unserved,
        focal=focal,
        errors=errors,
        values=values,
    )


def _lead_options(actor: CurrentActor, tree: Any) -> list[tuple[int | None, str]]:
    """The organizations this actor may record an agreement for, as the lead's choices."""
    return [
        (value, label)
        for value, label in organization_options(tree)
        if value is not None and policy.drafts_agreement_for(actor, value)
    ]


def _agreement_fields(data: dict[str, Any]) -> dict[str, Any]:
    def day(name: str) -> date:
        try:
            return date.fromisoformat(str(data.get(name, "")))
        except ValueError:
            raise Invalid(
                "Check the dates.", errors=[{"field": name, "message": "a date is needed"}]
            ) from None

    return {
        "title": str(data.get("title", "")),
        "party_ids": form_ints(data.get("party_ids", [])),
        "signed_on": day("signed_on"),
        "valid_from": day("valid_from"),
        "valid_until": day("valid_until"),
        "document_url": str(data.get("document_url", "")).strip() or None,
    }


@post("/agreements", guards=DRAFTERS)
async def create_agreement(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    try:
        agreement = await agreement_service.create_agreement(
            db,
            actor,
            lead_organization_id=form_int(data.get("lead_organization_id")) or 0,
            **_agreement_fields(data),
        )
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        return await _agreements(request, db, actor, 0, errors, data, FORM_ERROR)
    flash(request, "Agreement {title} saved.", title=agreement.title)
    return redirect("/agreements")


@get("/agreements/{agreement_id:int}/edit", guards=DRAFTERS)
async def edit_agreement_page(
    request: AnyRequest, db: DB, actor: CurrentActor, agreement_id: PathId
) -> Template:
    agreement, party_ids = await agreement_service.get_agreement(db, actor, agreement_id)
    policy.require(
        policy.drafts_agreement_for(actor, agreement.lead_organization_id),
        policy.AGREEMENT_REFUSED,
    )
    values = {**agreement.model_dump(), "party_ids": party_ids}
    return await _edit_agreement(request, db, actor, agreement_id, values, {})


async def _edit_agreement(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    agreement_id: PathId,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    broken: list[Broken] | None = None,
) -> Template:
    lang = locale_of(request)
    tree = await organizations.organization_tree(db, actor)
    return page(
        request,
        "organizations/agreement_edit.html",
        title=translate(lang, "Edit agreement"),
        actor=actor,
        status_code=status,
        crumbs=[("/agreements", translate(lang, "Agreements"))],
        agreement_id=agreement_id,
        org_options=organization_options(tree),
        values=values,
        errors=errors,
        broken=[(b.id, b.title, translate(lang, b.reason, **b.values)) for b in broken or []],
    )


@post("/agreements/{agreement_id:int}", guards=DRAFTERS)  # refused before the form is read
async def update_agreement(
    request: AnyRequest, db: DB, actor: CurrentActor, agreement_id: PathId, data: Form
) -> Template | Redirect:
    values = {**data, "party_ids": form_ints(data.get("party_ids", []))}
    try:
        await agreement_service.update_agreement(
            db, actor, agreement_id, **_agreement_fields(data), confirm=data.get("confirm") == "1"
        )
    except AgreementChangeBreaks as exc:
        return await _edit_agreement(
            request, db, actor, agreement_id, values, {}, exc.status, exc.broken
        )
    except Invalid as exc:
        errors = field_errors(exc, locale_of(request))
        return await _edit_agreement(request, db, actor, agreement_id, values, errors, FORM_ERROR)
    flash(request, "The agreement was updated.")
    return redirect("/agreements")


ROUTES = [agreements_page, create_agreement, edit_agreement_page, update_agreement]
