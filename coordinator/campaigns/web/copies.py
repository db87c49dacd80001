"""Campaign pages for copies: duplicate a campaign, keep it as a template, start from one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns import copying, reading
from coordinator.campaigns.web.forms import form_errors, local_input, parse_local
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.web.context import FORM_ERROR, AnyRequest, Form, flash, locale_of, page, redirect

RUNNERS = [policy.guard(policy.runs_campaigns)]


def _fresh_dates(request: AnyRequest, title: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "title": title,
        "launch_at": local_input(request, now + timedelta(minutes=30)),
        "deadline_at": local_input(request, now + timedelta(days=2)),
    }


def _read_dates(request: AnyRequest, data: dict[str, Any]) -> copying.NewDates:
    """Title and dates of the copy; every unreadable field is reported at once."""
    errors, times = [], {}
    for name in ("launch_at", "deadline_at"):
        try:
            times[name] = parse_local(request, data.get(name), name)
        except Invalid as exc:
            errors += exc.errors or []
    title = str(data.get("title", "")).strip()
    if not 1 <= len(title) <= 200:
        errors.append({"field": "title", "message": "1-200 characters"})
    if errors:
        raise Invalid("The campaign cannot be saved.", errors=errors)
    return copying.NewDates(title, times["launch_at"], times["deadline_at"], utcnow())


async def _copy_page(
    request: AnyRequest,
    actor: Actor,
    *,
    source: str,
    action: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    campaign_id: int | None = None,
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    return page(
        request,
        "campaigns/campaign_copy.html",
        title=translate(lang, "New campaign from {source}", source=source),
        actor=actor,
        status_code=status,
        crumbs=[("/campaigns", translate(lang, "Campaigns"))],
        source=source,
        action=action,
        campaign_id=campaign_id,
        values=values,
        errors=errors or {},
    )


@get("/campaigns/{campaign_id:int}/copy", guards=RUNNERS)
async def copy_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    campaign = (await reading.get_campaign(db, actor, campaign_id)).campaign
    return await _copy_page(
        request,
        actor,
        source=campaign.title,
        action=f"/campaigns/{campaign_id}/duplicate",
        values=_fresh_dates(
            request, translate(locale_of(request), "{title} (copy)", title=campaign.title[:190])
        ),
        campaign_id=campaign_id,
    )


@post("/campaigns/{campaign_id:int}/duplicate", guards=RUNNERS)
async def duplicate(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    try:
        copy = await copying.duplicate_campaign(db, actor, campaign_id, _read_dates(request, data))
    except Invalid as exc:
        campaign = (await reading.get_campaign(db, actor, campaign_id)).campaign
        return await _copy_page(
            request,
            actor,
            source=campaign.title,
            action=f"/campaigns/{campaign_id}/duplicate",
            values=data,
            errors=form_errors(exc, locale_of(request)),
            campaign_id=campaign_id,
            status=FORM_ERROR,
        )
    flash(request, "Copy saved as a draft: check its content and targets, then launch it.")
    return redirect(f"/campaigns/{copy.id}/edit")


@post("/campaigns/{campaign_id:int}/template", guards=RUNNERS)
async def save_template(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Redirect:
    await copying.save_as_template(db, actor, campaign_id, str(data.get("template_title", "")))
    flash(request, "Kept as a template.")
    return redirect("/campaigns/templates")


async def _templates_page(
    request: AnyRequest,
    db: DB,
    actor: Actor,
    errors: dict[int, str] | None = None,
    values: dict[int, str] | None = None,
) -> Template:
    """The saved templates; `errors` and `values` by template id, for a refused rename."""
    lang = locale_of(request)
    return page(
        request,
        "campaigns/templates.html",
        title=translate(lang, "Templates"),
        actor=actor,
        status_code=FORM_ERROR if errors else 200,
        crumbs=[("/campaigns", translate(lang, "Campaigns"))],
        templates=await copying.list_templates(db, actor),
        changeable=await copying.changeable_templates(db, actor),
        errors=errors or {},
        values=values or {},
    )


@get("/campaigns/templates", guards=RUNNERS)
async def templates_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _templates_page(request, db, actor)


@post("/campaigns/templates/{template_id:int}/rename", guards=RUNNERS)
async def rename_template(
    request: AnyRequest, db: DB, actor: CurrentActor, template_id: PathId, data: Form
) -> Template | Redirect:
    title = str(data.get("title", ""))
    try:
        await copying.rename_template(db, actor, template_id, title)
    except Invalid as exc:
        message = "; ".join(form_errors(exc, locale_of(request)).values())
        return await _templates_page(
            request, db, actor, {template_id: message}, {template_id: title}
        )
    flash(request, "Template renamed.")
    return redirect("/campaigns/templates")


@post("/campaigns/templates/{template_id:int}/delete", guards=RUNNERS)
async def delete_template(
    request: AnyRequest, db: DB, actor: CurrentActor, template_id: PathId
) -> Redirect:
    title = await copying.delete_template(db, actor, template_id)
    flash(request, "Template {title} deleted.", title=title)
    return redirect("/campaigns/templates")


@get("/campaigns/templates/{template_id:int}", guards=RUNNERS)
async def start_page(
    request: AnyRequest, db: DB, actor: CurrentActor, template_id: PathId
) -> Template:
    template = await copying.get_template(db, actor, template_id)
    return await _copy_page(
        request,
        actor,
        source=template.title,
        action=f"/campaigns/templates/{template_id}",
        values=_fresh_dates(request, template.title),
    )


@post("/campaigns/templates/{template_id:int}", guards=RUNNERS)
async def start_from_template(
    request: AnyRequest, db: DB, actor: CurrentActor, template_id: PathId, data: Form
) -> Template | Redirect:
    try:
        dates = _read_dates(request, data)
        campaign = await copying.start_from_template(db, actor, template_id, dates)
    except Invalid as exc:
        template = await copying.get_template(db, actor, template_id)
        return await _copy_page(
            request,
            actor,
            source=template.title,
            action=f"/campaigns/templates/{template_id}",
            values=data,
            errors=form_errors(exc, locale_of(request)),
            status=FORM_ERROR,
        )
    flash(request, "Draft started from the template: check its content and targets.")
    return redirect(f"/campaigns/{campaign.id}/edit")


ROUTES = [
    copy_page,
    duplicate,
    save_template,
    templates_page,
    rename_template,
    delete_template,
    start_page,
    start_from_template,
]
