"""Campaign pages for approval under the agreement: submit, approve, return with a comment."""

from __future__ import annotations

from litestar import post
from litestar.response import Redirect

from coordinator.auth import policy
from coordinator.campaigns import approvals
from coordinator.campaigns.web.launch import _guarded
from coordinator.http import DB, CurrentActor, PathId
from coordinator.web.context import AnyRequest, Form

RUNNERS = [policy.guard(policy.runs_campaigns)]


@post("/campaigns/{campaign_id:int}/submit", guards=RUNNERS)
async def submit(request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId) -> Redirect:
    return await _guarded(
        request,
        campaign_id,
        approvals.submit_campaign(db, actor, campaign_id),
        "Submitted: the lead organization's coordinators were told.",
    )


@post("/campaigns/{campaign_id:int}/approve", guards=RUNNERS)
async def approve(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Redirect:
    comment = str(data.get("comment", ""))
    return await _guarded(
        request,
        campaign_id,
        approvals.approve_campaign(db, actor, campaign_id, comment),
        "Approved: it can be scheduled or launched now.",
    )


@post("/campaigns/{campaign_id:int}/return", guards=RUNNERS)
async def return_(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId, data: Form
) -> Redirect:
    comment = str(data.get("comment", ""))
    return await _guarded(
        request,
        campaign_id,
        approvals.return_campaign(db, actor, campaign_id, comment),
        "Returned to its drafter with your comment.",
    )


ROUTES = [submit, approve, return_]
