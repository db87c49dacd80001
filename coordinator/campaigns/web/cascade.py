"""The focal point's part of a campaign on the web: the organization tasks they receive, with
the same steps as the bot's buttons (Received, each pass-on choice, Can't with a reason)."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template
from sqlmodel import col, select

from coordinator.campaigns import cascade_service
from coordinator.campaigns.cascade_messages import CHOICE_LABELS, STATUS_LABELS, task_text
from coordinator.campaigns.models import Campaign, OrganizationTask
from coordinator.errors import DomainError, Forbidden, NotFound
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.organizations.models import FocalPoint
from coordinator.web.context import AnyRequest, Form, flash, locale_of, page, redirect


@get("/campaigns/{campaign_id:int}/handed")
async def handed_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    """The campaign as handed to the organizations this user is a focal point of."""
    lang = locale_of(request)
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        tasks = list(
            await session.scalars(
                select(OrganizationTask)
                .join(
                    FocalPoint,
                    col(FocalPoint.organization_id) == OrganizationTask.organization_id,
                )
                .where(
                    OrganizationTask.campaign_id == campaign_id,
                    FocalPoint.user_id == actor.user_id,
                )
                .order_by(col(OrganizationTask.id))
            )
        )
        if campaign is None or not tasks:
            raise NotFound("No campaign was handed to your organization.")
        texts = {t.id: await task_text(session, t, lang) for t in tasks}
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


ROUTES = [handed_page, act_on_task]
