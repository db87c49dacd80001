"""Campaign pages for the moves: the launch confirmation, launch, schedule, close, remind."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.base import utcnow
from coordinator.bots.pacing import delivery_estimate
from coordinator.campaigns import cascade_service, lifecycle, reading, reminders
from coordinator.campaigns.readiness import readiness
from coordinator.campaigns.web.forms import settings_of
from coordinator.errors import Conflict, DomainError, Invalid
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.web.context import (
    AnyRequest,
    field_errors,
    flash,
    locale_of,
    page,
    redirect,
    say,
)

RUNNERS = [policy.guard(policy.runs_campaigns)]


@get("/campaigns/{campaign_id:int}/launch", guards=RUNNERS)
async def launch_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    """What launching sends, how long it takes, and what stands in its way, before any
    confirmation: "Launch now" is not offered while something blocks it."""
    lang = locale_of(request)
    settings = settings_of(request)
    ready = await readiness(
        db,
        actor,
        campaign_id,
        rate=settings.send_rate,
        paid=settings.paid_broadcast,
        tz=settings.timezone,
    )
    detail = await reading.get_campaign(db, actor, campaign_id)
    free, paid, stars = delivery_estimate(ready.recipients, settings.send_rate)
    through = detail.campaign.delivery_mode == "org"
    unserved = await cascade_service.unserved_targets(db, campaign_id) if through else []
    return page(
        request,
        "campaigns/campaign_launch.html",
        title=translate(lang, "Launch"),
        actor=actor,
        crumbs=[
            ("/campaigns", translate(lang, "Campaigns")),
            (f"/campaigns/{campaign_id}", detail.campaign.title),
        ],
        campaign=detail.campaign,
        items=detail.items,
        targets=detail.targets,
        volunteers=ready.volunteers,
        groups=ready.groups,
        later=detail.campaign.launch_at > utcnow(),
        rate=f"{settings.send_rate:g}",
        free_time=_duration(lang, free),
        paid_time=_duration(lang, paid),
        stars=f"{stars:,g}",
        paid=detail.campaign.paid_broadcast or settings.paid_broadcast,
        unserved=unserved,
        blocking=[translate(lang, m, **v) for m, v in ready.blocking],
        warnings=[translate(lang, m, **v) for m, v in ready.warnings],
    )


def _duration(lang: str, seconds: float) -> str:
    """A delivery time as people say it: seconds, minutes, or hours and minutes."""
    if seconds < 60:
        return translate(lang, "{n} s", n=max(1, round(seconds)))
    minutes = round(seconds / 60)
    if minutes < 60:
        return translate(lang, "{n} min", n=minutes)
    return translate(lang, "{h} h {m} min", h=minutes // 60, m=minutes % 60)


def _problem(lang: str, exc: DomainError) -> str:
    """A refusal in the reader's language, its values (the party rule's names) filled in."""
    return say(lang, exc)


async def _guarded(
    request: AnyRequest, campaign_id: PathId, action: Awaitable[Any], success: str
) -> Redirect:
    """Run a campaign move; a refusal becomes a flash message on the status page."""
    try:
        await action
    except (Invalid, Conflict) as exc:
        lang = locale_of(request)
        details = "; ".join(field_errors(exc, lang).values()) if isinstance(exc, Invalid) else ""
        flash(request, "{problem} {details}", "error", problem=_problem(lang, exc), details=details)
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, success)
    return redirect(f"/campaigns/{campaign_id}")


@post("/campaigns/{campaign_id:int}/launch", guards=RUNNERS)
async def launch(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        lifecycle.launch_campaign(db, actor, campaign_id),
        "Launched: the bot is sending the assignments now.",
    )


@post("/campaigns/{campaign_id:int}/schedule", guards=RUNNERS)
async def schedule(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        lifecycle.schedule_campaign(db, actor, campaign_id),
        "Scheduled: it launches by itself at the launch time.",
    )


@post("/campaigns/{campaign_id:int}/close", guards=RUNNERS)
async def close(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request, campaign_id, lifecycle.close_campaign(db, actor, campaign_id), "Campaign closed."
    )


@post("/campaigns/{campaign_id:int}/cancel", guards=RUNNERS)
async def cancel(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        lifecycle.cancel_campaign(db, actor, campaign_id),
        "Campaign cancelled; unsent messages were withdrawn.",
    )


@post("/campaigns/{campaign_id:int}/remind", guards=RUNNERS)
async def remind(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    step = "manual-" + utcnow().strftime("%Y%m%d%H")  # at most one manual reminder an hour
    try:
        queued = await reminders.remind_not_done(db, actor, campaign_id, step)
    except Conflict as exc:
        flash(request, exc.message, "error", **exc.values)
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, "Reminders queued for {n} volunteers not done yet.", n=queued)
    return redirect(f"/campaigns/{campaign_id}")


ROUTES = [launch_page, launch, schedule, close, cancel, remind]
