"""Campaigns in the browser: list, editor with a live Telegram preview, launch, status page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from litestar import get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.bots.messages import AssignmentView, ItemView, render
from coordinator.bots.pacing import delivery_estimate
from coordinator.campaigns import reminders
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import CONTENT_ACTIONS, Campaign
from coordinator.campaigns.service import CONTENT_KINDS, CampaignDraft
from coordinator.errors import Conflict, Invalid
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import LOCALES, translate
from coordinator.organizations.agreements import list_agreements
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

STATUSES = ("draft", "scheduled", "active", "closed", "cancelled")
PAGE = 25
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _settings(request: AnyRequest) -> Any:
    return request.app.state.settings


def _local(request: AnyRequest, value: datetime | None) -> str:
    """A stored UTC time as a datetime-local input value."""
    return value.astimezone(_settings(request).timezone).strftime(LOCAL_INPUT) if value else ""


def _parse_local(request: AnyRequest, value: Any, field: str) -> datetime:
    try:
        naive = datetime.strptime(str(value), LOCAL_INPUT)
    except ValueError:
        raise Invalid(
            "Check the times.", errors=[{"field": field, "message": "a date and time is needed"}]
        ) from None
    return naive.replace(tzinfo=_settings(request).timezone)


def _draft(request: AnyRequest, data: dict[str, Any]) -> CampaignDraft:
    """The form's fields as a draft; every unreadable field is reported at once."""
    quota = str(data.get("quota_percent", "")).strip()
    errors = []
    times = {}
    for name in ("launch_at", "deadline_at"):
        try:
            times[name] = _parse_local(request, data.get(name), name)
        except Invalid as exc:
            errors += exc.errors or []
    if quota and not quota.isdigit():
        errors.append({"field": "quota_percent", "message": "between 1 and 100"})
    hours = str(data.get("reminder_hours", "")).replace(",", " ").split()
    if not all(h.isdigit() for h in hours):
        errors.append({"field": "reminder_hours", "message": "up to 5 values, each 1-168 hours"})
    if errors:
        raise Invalid("The campaign cannot be saved.", errors=errors)
    return CampaignDraft(
        agreement_id=form_int(data.get("agreement_id")) or 0,
        title=str(data.get("title", "")),
        brief=str(data.get("brief", "")),
        launch_at=times["launch_at"],
        deadline_at=times["deadline_at"],
        quota_percent=int(quota) if quota else None,
        delivery_mode=str(data.get("delivery_mode", "dm")),
        proof_requested=data.get("proof_requested") == "on",
        reminder_hours=[int(h) for h in hours],
        remind_in_quiet_hours=data.get("remind_in_quiet_hours") == "on",
        paid_broadcast=data.get("paid_broadcast") == "on",
    )


def _values(request: AnyRequest, campaign: Campaign) -> dict[str, Any]:
    return {
        "agreement_id": campaign.agreement_id,
        "title": campaign.title,
        "brief": campaign.brief,
        "launch_at": _local(request, campaign.launch_at),
        "deadline_at": _local(request, campaign.deadline_at),
        "quota_percent": campaign.quota_percent or "",
        "delivery_mode": campaign.delivery_mode,
        "proof_requested": "on" if campaign.proof_requested else "",
        "reminder_hours": ", ".join(str(h) for h in campaign.reminder_hours),
        "remind_in_quiet_hours": "on" if campaign.remind_in_quiet_hours else "",
        "paid_broadcast": "on" if campaign.paid_broadcast else "",
    }


# ---- list ---------------------------------------------------------------------------------


@get("/campaigns")
async def campaigns_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    status: FromQuery[str | None] = None,
    q: Search = None,
    offset: PageOffset = 0,
) -> Template:
    lang = locale_of(request)
    status = status if status in STATUSES else None
    found = await campaigns.list_campaigns(db, actor, status, PAGE, max(offset, 0), q)
    return page(
        request,
        "pages/campaigns.html",
        title=translate(lang, "Campaigns"),
        actor=actor,
        campaigns=found,
        statuses=STATUSES,
        status=status or "",
        q=q or "",
        can_create=actor.role in ("admin", "coordinator"),
    )


# ---- editor -------------------------------------------------------------------------------


@get("/campaigns/new")
async def new_campaign_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    now = utcnow()
    values = {
        "launch_at": _local(request, now + timedelta(minutes=30)),
        "deadline_at": _local(request, now + timedelta(days=2)),
        "delivery_mode": "dm",
        "reminder_hours": "24, 2",
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
    options = await campaigns.agreements_for_new_campaigns(db, actor, date.today())
    return page(
        request,
        "pages/campaign_new.html",
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


@post("/campaigns")
async def create_campaign(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        campaign = await campaigns.create_campaign(db, actor, _draft(request, data))
    except Invalid as exc:
        return await _new(request, db, actor, data, _form_errors(exc, lang), FORM_ERROR)
    flash(request, "Draft saved. Add the content and the targets next.")
    return redirect(f"/campaigns/{campaign.id}/edit")


def _form_errors(exc: Invalid, lang: str) -> dict[str, str]:
    errors = field_errors(exc, lang)
    if not errors:
        errors[""] = translate(lang, exc.detail)
    elif exc.code == "agreement_not_valid":
        errors["agreement_id"] = exc.detail
    return errors


@get("/campaigns/{campaign_id:int}/edit")
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
) -> Template:
    lang = locale_of(request)
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    campaign = detail.campaign
    if campaign.status not in ("draft", "scheduled"):
        raise Conflict("Only drafts and scheduled campaigns can be edited.")
    choices = await campaigns.target_choices(db, actor, campaign.agreement_id)
    agreements, _ = await list_agreements(db, actor, 500, 0)
    agreement = next((a for a in agreements.items if a.id == campaign.agreement_id), None)
    return page(
        request,
        "pages/campaign_edit.html",
        title=translate(lang, "Edit campaign"),
        actor=actor,
        status_code=status,
        crumbs=[
            ("/campaigns", translate(lang, "Campaigns")),
            (f"/campaigns/{campaign_id}", campaign.title),
        ],
        campaign=campaign,
        agreement=agreement,
        items=detail.items,
        chosen_orgs={t.organization_id for t in detail.targets if t.organization_id},
        chosen_clubs={t.club_id for t in detail.targets if t.club_id},
        choices=choices,
        kinds=CONTENT_KINDS,
        actions=CONTENT_ACTIONS,
        values=values or _values(request, campaign),
        errors=errors or {},
    )


@post("/campaigns/{campaign_id:int}")
async def update_campaign(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        draft = _draft(request, data)
        current = await campaigns.get_campaign(db, actor, campaign_id)
        draft.agreement_id = current.campaign.agreement_id
        await campaigns.update_campaign(db, actor, campaign_id, draft)
    except Invalid as exc:
        errors = _form_errors(exc, lang)
        return await _edit(
            request, db, actor, campaign_id, values=data, errors=errors, status=FORM_ERROR
        )
    flash(request, "Saved.")
    return redirect(f"/campaigns/{campaign_id}/edit")


@post("/campaigns/{campaign_id:int}/items")
async def add_item(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    actions = data.get("actions", [])
    actions = actions if isinstance(actions, list) else [actions]
    try:
        await campaigns.add_content_item(
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
        errors = {f"item_{k}": v for k, v in _form_errors(exc, lang).items()}
        if "item_" in errors:
            errors["item_url"] = errors.pop("item_")
        return await _edit(request, db, actor, campaign_id, errors=errors, status=FORM_ERROR)
    flash(request, "Content added.")
    return redirect(f"/campaigns/{campaign_id}/edit#content")


@post("/campaigns/{campaign_id:int}/targets")
async def set_targets(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Template | Redirect:
    lang = locale_of(request)
    try:
        await campaigns.set_targets(
            db,
            actor,
            campaign_id,
            organization_ids=form_ints(data.get("organization_ids", [])),
            club_ids=form_ints(data.get("club_ids", [])),
        )
    except Invalid as exc:
        errors = {"targets": translate(lang, exc.detail)}
        return await _edit(request, db, actor, campaign_id, errors=errors, status=FORM_ERROR)
    flash(request, "Targets saved.")
    return redirect(f"/campaigns/{campaign_id}/edit#targets")


@post("/campaigns/check-url")
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
            channel, org = await campaigns.check_content_url(db, actor, agreement_id, url)
            ok, text = True, translate(lang, "On {channel} of {org}.", channel=channel, org=org)
        except Invalid as exc:
            text = translate(lang, exc.detail)
            candidates = exc.errors[0].get("candidates", []) if exc.errors else []
    return page(
        request,
        "partials/url_check.html",
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
    tz = _settings(request).timezone
    items: list[ItemView] = []
    campaign_id = str(data.get("campaign_id", ""))
    if campaign_id.isdigit():
        detail = await campaigns.get_campaign(db, actor, int(campaign_id))
        items = [ItemView(i.url, list(i.actions), i.suggested_caption) for i in detail.items]
    try:
        deadline = _parse_local(request, data.get("deadline_at"), "deadline_at")
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
        "partials/preview.html",
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


# ---- launch and the status page -----------------------------------------------------------


@get("/campaigns/{campaign_id:int}/launch")
async def launch_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    lang = locale_of(request)
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    volunteers, groups = await campaigns.audience_of(db, actor, campaign_id)
    settings = _settings(request)
    recipients = groups if detail.campaign.delivery_mode == "group" else volunteers
    free, paid, stars = delivery_estimate(recipients, settings.send_rate)
    return page(
        request,
        "pages/campaign_launch.html",
        title=translate(lang, "Launch"),
        actor=actor,
        crumbs=[
            ("/campaigns", translate(lang, "Campaigns")),
            (f"/campaigns/{campaign_id}", detail.campaign.title),
        ],
        campaign=detail.campaign,
        items=detail.items,
        targets=detail.targets,
        volunteers=volunteers,
        groups=groups,
        later=detail.campaign.launch_at > utcnow(),
        rate=f"{settings.send_rate:g}",
        free_time=_duration(lang, free),
        paid_time=_duration(lang, paid),
        stars=f"{stars:,g}",
        paid=detail.campaign.paid_broadcast or settings.paid_broadcast,
    )


def _duration(lang: str, seconds: float) -> str:
    """A delivery time as people say it: seconds, minutes, or hours and minutes."""
    if seconds < 60:
        return translate(lang, "{n} s", n=max(1, round(seconds)))
    minutes = round(seconds / 60)
    if minutes < 60:
        return translate(lang, "{n} min", n=minutes)
    return translate(lang, "{h} h {m} min", h=minutes // 60, m=minutes % 60)


async def _guarded(request: AnyRequest, campaign_id: PathId, action: Any, success: str) -> Redirect:
    """Run a campaign move; a refusal becomes a flash message on the status page."""
    try:
        await action
    except (Invalid, Conflict) as exc:
        lang = locale_of(request)
        details = "; ".join(field_errors(exc, lang).values()) if isinstance(exc, Invalid) else ""
        flash(
            request,
            "{problem} {details}",
            "error",
            problem=translate(lang, exc.detail),
            details=details,
        )
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, success)
    return redirect(f"/campaigns/{campaign_id}")


@post("/campaigns/{campaign_id:int}/launch")
async def launch(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        campaigns.launch_campaign(db, actor, campaign_id),
        "Launched: the bot is sending the assignments now.",
    )


@post("/campaigns/{campaign_id:int}/schedule")
async def schedule(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        campaigns.schedule_campaign(db, actor, campaign_id),
        "Scheduled: it launches by itself at the launch time.",
    )


@post("/campaigns/{campaign_id:int}/close")
async def close(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request, campaign_id, campaigns.close_campaign(db, actor, campaign_id), "Campaign closed."
    )


@post("/campaigns/{campaign_id:int}/cancel")
async def cancel(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        campaigns.cancel_campaign(db, actor, campaign_id),
        "Campaign cancelled; unsent messages were withdrawn.",
    )


@post("/campaigns/{campaign_id:int}/remind")
async def remind(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    step = "manual-" + utcnow().strftime("%Y%m%d%H")  # at most one manual reminder an hour
    try:
        queued = await reminders.remind_not_done(db, actor, campaign_id, step)
    except Conflict as exc:
        flash(request, exc.detail, "error")
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, "Reminders queued for {n} volunteers not done yet.", n=queued)
    return redirect(f"/campaigns/{campaign_id}")


PAGES = [
    campaigns_page,
    new_campaign_page,
    create_campaign,
    edit_campaign_page,
    update_campaign,
    add_item,
    set_targets,
    check_url,
    preview,
    launch_page,
    launch,
    schedule,
    close,
    cancel,
    remind,
]
