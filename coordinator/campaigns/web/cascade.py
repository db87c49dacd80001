"""The focal point's part of a campaign on the web: the organization tasks they receive, with
the same steps as the bot's buttons (Received, each pass-on choice, Can't with a reason)."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.campaigns import cascade_service, escalation
from coordinator.campaigns.cascade_messages import CHOICE_LABELS, STATUS_LABELS
from coordinator.campaigns.models import OrganizationTask
from coordinator.errors import Conflict, DomainError, Forbidden, NotFound
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.web.context import AnyRequest, Form, flash, locale_of, page, redirect


@get("/campaigns/{campaign_id:int}/handed")
async def handed_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    """The campaign as handed to the organizations this user is a focal point of."""
    lang = locale_of(request)
    campaign, tasks, texts = await cascade_service.handed_to(db, actor, campaign_id, lang)
    return page(
        request,
        "campaigns/handed.html",
        title=campaign.title,
        actor=actor,
        crumbs=[],
        campaign=campaign,
        tasks=tasks,
        texts=texts,
        choices=CHOICE_LABELS,
        statuses=STATUS_LABELS,
    )


@post("/organization-tasks/{task_id:int}")
async def act_on_task(
    request: AnyRequest, db: DB, actor: CurrentActor, task_id: PathId, data: Form
) -> Redirect:
    step = str(data.get("step", ""))
    try:
        outcome = await cascade_service.act(
            db, actor, task_id, step, reason=str(data.get("reason", ""))
        )
    except DomainError as exc:
        async with db.read() as session:
            task = await session.get(OrganizationTask, task_id)
        if task is None or isinstance(exc, Forbidden | NotFound):
            raise  # not theirs, or not there: the error page, nothing hinted
        flash(request, exc.detail, "error")
        return redirect(f"/campaigns/{task.campaign_id}/handed")
    note = "Recorded: {status}" if outcome.changed else "Already recorded."
    lang = locale_of(request)
    flash(request, note, status=translate(lang, STATUS_LABELS[outcome.task.status]))
    return redirect(f"/campaigns/{outcome.task.campaign_id}/handed")


@post(
    "/organization-tasks/{task_id:int}/remind",
    guards=[policy.guard(policy.reminds_organizations)],
)
async def remind_organization(
    request: AnyRequest, db: DB, actor: CurrentActor, task_id: PathId
) -> Redirect:
    """A coordinator's "remind now" for one organization's focal points (the sweep's
    reminder); a second press within the window queues nothing."""
    try:
        campaign_id, queued = await escalation.remind_now(db, actor, task_id)
    except Conflict as exc:  # the campaign is visible to them: say why on its page
        flash(request, exc.message, "error", **exc.values)
        return redirect(f"/campaigns/{await escalation.campaign_of(db, task_id)}")
    if queued:
        flash(request, "Reminder queued for {n} focal points.", n=queued)
    else:
        flash(request, "A reminder went out a moment ago, or no focal point is linked.")
    return redirect(f"/campaigns/{campaign_id}")


ROUTES = [handed_page, act_on_task, remind_organization]
