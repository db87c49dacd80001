"""Campaign pages for drafting: the list, the editor with a live Telegram preview, URL checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.auth.scope import Actor
from coordinator.base import plain_digits, utcnow
from coordinator.campaigns import drafting, reading, targeting
from coordinator.campaigns.drafting import CONTENT_KINDS
from coordinator.campaigns.models import (
    CONTENT_ACTIONS,
    DEFAULT_ORG_ESCALATE_HOURS,
    DEFAULT_ORG_REMIND_HOURS,
)
from coordinator.campaigns.web.forms import (
    STATUSES,
    form_errors,
    form_values,
    local_input,
    parse_local,
    read_draft,
    settings_of,
)
from coordinator.delivery.messages import AssignmentView, ItemView, render
from coordinator.errors import Conflict, Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import LOCALES, translate
from coordinator.web.context import (
    FORM_ERROR,
    AnyRequest,
    Form,
    flash,
    form_int,
    form_ints,
    locale_of,
    page,
    redirect,
    say,
)

PAGE = 25
RUNNERS = [policy.guard(policy.runs_campaigns)]


@get("/campaigns")
async def campaigns_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    status: FromQuery[str | None] = None,
    q: Search = None,
    offset: PageOffset = 0,
    sort: FromQuery[str | None] = None,
) -> Template:
    lang = locale_of(request)
    status = status if status in STATUSES else None
    sort = sort if sort and sort.removeprefix("-") in reading.SORTS else None
    found = await reading.list_campaigns(db, actor, status, PAGE, max(offset, 0), q, sort)
    return page(
        request,
        "campaigns/campaigns.html",
        title=translate(lang, "Campaigns"),
        actor=actor,
        campaigns=found,
        statuses=STATUSES,
        status=status or "",
        q=q or "",
        sort=sort or "",
        sorts=reading.SORTS,
    )


@get("/campaigns/new", guards=RUNNERS)
async def new_campaign_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    now = utcnow()
    values = {
        "launch_at": local_input(request, now + timedelta(minutes=30)),
        "deadline_at": local_input(request, now + timedelta(days=2)),
        "delivery_mode": "",  # follows the targets: through organizations for more than one
        "reminder_hours": "24, 2",
        "org_remind_after_hours": DEFAULT_ORG_REMIND_HOURS,
        "org_escalate_after_hours": DEFAULT_ORG_ESCALATE_HOURS,
        "org_auto_pass_on_after_hours": "",
    }
    return await _new(request, db, actor, values, {})


async def _new(
    request: AnyRequest,
    db: DB,
    actor: Actor,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Template:
    lang = locale_of(request)
    options = await reading.agreements_for_new_campaigns(db, actor)
    return page(
        request,
        "campaigns/campaign_new.html",
        title=translate(lang, "New campaign"),
        actor=actor,
        status_code=status,
        crumbs=[("/campaigns", translate(lang, "Campaigns"))],
        agreement_options=[
            (a.id, f"{a.title} ({a.valid_from:%d/%m/%Y}–{a.valid_until:%d/%m/%Y})") for a in options
        ],
        values=values,
        errors=errors,
    )


@post("/campaigns", guards=RUNNERS)
async def create_campaign(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        campaign = await drafting.create_campaign(db, actor, read_draft(request, data))
    except Invalid as exc:
        return await _new(request, db, actor, data, form_errors(exc, lang), FORM_ERROR)
    flash(request, "Draft saved. Add the content and the targets next.")
    return redirect(f"/campaigns/{campaign.id}/edit")


@get("/campaigns/{campaign_id:int}/edit", guards=RUNNERS)
async def edit_campaign_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    return await _edit(request, db, actor, campaign_id)


async def _edit(
    request: AnyRequest,
    db: DB,
    actor: Actor,
    campaign_id: PathId,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    item: dict[str, Any] | None = None,
) -> Template:
    lang = locale_of(request)
    detail = await reading.get_campaign(db, actor, campaign_id)
    campaign = detail.campaign
    if campaign.status not in ("draft", "scheduled"):
        raise Conflict("Only drafts and scheduled campaigns can be edited.")
    return page(
        request,
        "campaigns/campaign_edit.html",
        title=translate(lang, "Edit campaign"),
        actor=actor,
        status_code=status,
        crumbs=[
            ("/campaigns", translate(lang, "Campaigns")),
            (f"/campaigns/{campaign_id}", campaign.title),
        ],
        campaign=campaign,
        agreement=await reading.agreement_of(db, actor, campaign),
        items=detail.items,
        chosen_orgs={t.organization_id for t in detail.targets if t.organization_id},
        chosen_clubs={t.club_id for t in detail.targets if t.club_id},
        choices=await reading.target_choices(db, actor, campaign.agreement_id),
        kinds=CONTENT_KINDS,
        actions=CONTENT_ACTIONS,
        values=values or form_values(request, campaign),
        errors=errors or {},
        item=item or {},
    )


@post("/campaigns/{campaign_id:int}", guards=RUNNERS)
async def update_campaign(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        draft = read_draft(request, data)
        current = await reading.get_campaign(db, actor, campaign_id)
        draft.agreement_id = current.campaign.agreement_id
        await drafting.update_campaign(db, actor, campaign_id, draft)
    except Invalid as exc:
        errors = form_errors(exc, lang)
        return await _edit(
            request, db, actor, campaign_id, values=data, errors=errors, status=FORM_ERROR
        )
    flash(request, "Saved.")
    return redirect(f"/campaigns/{campaign_id}/edit")


@post("/campaigns/{campaign_id:int}/items", guards=RUNNERS)
async def add_item(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    actions = data.get("actions", [])
    actions = actions if isinstance(actions, list) else [actions]
    try:
        await drafting.add_content_item(
            db,
            actor,
            campaign_id,
            url=str(data.get("url", "")),
            kind=str(data.get("kind", "post")),
            actions=[str(a) for a in actions],
            suggested_caption=str(data.get("suggested_caption", "")).strip() or None,
            channel_id=form_int(data.get("channel_id")),
        )
    except Invalid as exc:
        errors = {f"item_{k}": v for k, v in form_errors(exc, lang).items()}
        if "item_" in errors:
            errors["item_url"] = errors.pop("item_")
        kept = {**data, "actions": [str(a) for a in actions]}
        return await _edit(
            request, db, actor, campaign_id, errors=errors, status=FORM_ERROR, item=kept
        )
    flash(request, "Content added.")
    return redirect(f"/campaigns/{campaign_id}/edit#content")


@post("/campaigns/{campaign_id:int}/targets", guards=RUNNERS)
async def set_targets(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        await targeting.set_targets(
            db,
            actor,
            campaign_id,
            organization_ids=form_ints(data.get("organization_ids", [])),
            club_ids=form_ints(data.get("club_ids", [])),
        )
    except Invalid as exc:
        errors = {"targets": say(lang, exc)}
        return await _edit(request, db, actor, campaign_id, errors=errors, status=FORM_ERROR)
    flash(request, "Targets saved.")
    return redirect(f"/campaigns/{campaign_id}/edit#targets")


@post("/campaigns/check-url", guards=RUNNERS)
async def check_url(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Template:
    """htmx, as the coordinator types a content URL: is it on a party's official channel?"""
    lang = locale_of(request)
    url = str(data.get("url", "")).strip()
    agreement_id = form_int(data.get("agreement_id")) or 0
    ok, text = False, ""
    candidates: list[dict[str, object]] = []
    chosen = form_int(data.get("channel_id"))
    if url:
        try:
            channel, org = await reading.check_content_url(db, actor, agreement_id, url)
            ok, text = True, translate(lang, "On {channel} of {org}.", channel=channel, org=org)
        except Invalid as exc:
            text = say(lang, exc)
            candidates = exc.errors[0].get("candidates", []) if exc.errors else []
    return page(
        request,
        "campaigns/url_check.html",
        title="",
        ok=ok,
        text=text,
        url=url,
        candidates=candidates,
        chosen=chosen,
    )


@post("/campaigns/preview")
async def preview(request: AnyRequest, db: DB, actor: CurrentActor, data: Form) -> Template:
    """htmx: the Telegram message exactly as volunteers will see it, in both languages."""
    tz = settings_of(request).timezone
    items: list[ItemView] = []
    campaign_id = str(data.get("campaign_id", ""))
    if plain_digits(campaign_id):
        detail = await reading.get_campaign(db, actor, int(campaign_id))
        items = [ItemView(i.url, list(i.actions), i.suggested_caption) for i in detail.items]
    try:
        deadline = parse_local(request, data.get("deadline_at"), "deadline_at")
    except Invalid:
        deadline = utcnow() + timedelta(days=2)
    view = AssignmentView(
        assignment_id=0,
        title=str(data.get("title", "")).strip() or "…",
        brief=str(data.get("brief", "")),
        deadline_at=deadline,
        items=items,
        status="delivered",
        counts={} if data.get("delivery_mode") == "group" else None,
    )
    return page(
        request,
        "campaigns/preview.html",
        title="",
        previews=[(lang, render(view, lang, tz)) for lang in LOCALES],
        buttons={lang: _button_labels(lang) for lang in LOCALES},
    )


def _button_labels(lang: str) -> list[str]:
    return [
        "✅ " + translate(lang, "Acknowledge"),
        "🏁 " + translate(lang, "Done"),
        "✖ " + translate(lang, "Can't do"),
    ]


ROUTES = [
    campaigns_page,
    new_campaign_page,
    create_campaign,
    edit_campaign_page,
    update_campaign,
    add_item,
    set_targets,
    check_url,
    preview,
]
