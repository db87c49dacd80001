"""A campaign's status page and its progress partial (the rest lives in `campaigns.web`)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.campaigns import reading as campaigns
from coordinator.http import DB, CurrentActor, PathId
from coordinator.i18n import translate
from coordinator.tallies.cache import PROGRESS, audience_key
from coordinator.tallies.service import campaign_breakdown
from coordinator.web.context import AnyRequest, locale_of, page


async def _breakdown(db: DB, actor: Actor, campaign_id: int) -> Any:
    """The campaign's progress, shared for 2 s by everyone who sees the same lines."""
    async with db.read() as session:  # the visibility check is never cached
        await scope.visible_campaign(session, actor, campaign_id)
    value, _ = await PROGRESS.get(
        (db.url, campaign_id, audience_key(actor)),
        lambda: campaign_breakdown(db, actor, campaign_id),
    )
    return value


@get("/campaigns/{campaign_id:int}")
async def status_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    lang = locale_of(request)
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    return page(
        request,
        "pages/campaign_status.html",
        title=detail.campaign.title,
        actor=actor,
        crumbs=[("/campaigns", translate(lang, "Campaigns"))],
        campaign=detail.campaign,
        items=detail.items,
        breakdown=await _breakdown(db, actor, campaign_id),
        can_edit=actor.role in ("admin", "coordinator"),
        hide_small=actor.role == "leadership",
    )


@get("/campaigns/{campaign_id:int}/progress")
async def progress_partial(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    """htmx polls this while the campaign runs: the status page updates without a reload."""
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    return page(
        request,
        "partials/progress.html",
        title="",
        actor=actor,
        campaign=detail.campaign,
        breakdown=await _breakdown(db, actor, campaign_id),
        hide_small=actor.role == "leadership",
    )


PAGES = [status_page, progress_partial]
