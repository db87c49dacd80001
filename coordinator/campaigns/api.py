"""JSON routes: campaigns with content, targets and moves; assignments; reports."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromQuery, JSONBody

from coordinator.campaigns import approvals, drafting, lifecycle, reading, reports, targeting
from coordinator.campaigns.models import (
    DEFAULT_ORG_ESCALATE_HOURS,
    DEFAULT_ORG_REMIND_HOURS,
    DEFAULT_REMINDER_HOURS,
)
from coordinator.http import (
    DB,
    CurrentActor,
    Id,
    Limit,
    Offset,
    OptionalId,
    OptionalQueryId,
    PageOut,
    PathId,
    SmallCount,
    out,
    page_out,
)


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    agreement_id: Id
    title: str
    launch_at: datetime
    deadline_at: datetime
    brief: str = ""
    quota_percent: SmallCount | None = None
    ask_share_percent: SmallCount | None = None
    # Omitted: `org` when the campaign targets more than one organization, else `dm`.
    delivery_mode: str | None = None
    proof_requested: bool = False
    reminder_hours: list[SmallCount] = msgspec.field(
        default_factory=lambda: list(DEFAULT_REMINDER_HOURS)
    )
    remind_in_quiet_hours: bool = False
    paid_broadcast: bool = False
    # Organization tasks nobody acted on (mode `org`): hours to each step; null: never.
    org_remind_after_hours: SmallCount | None = DEFAULT_ORG_REMIND_HOURS
    org_escalate_after_hours: SmallCount | None = DEFAULT_ORG_ESCALATE_HOURS
    org_auto_pass_on_after_hours: SmallCount | None = None


class CampaignOut(msgspec.Struct):
    id: int
    agreement_id: int
    title: str
    brief: str
    status: str
    launch_at: datetime
    deadline_at: datetime
    quota_percent: int | None
    delivery_mode: str
    proof_requested: bool
    reminder_hours: list[int]
    remind_in_quiet_hours: bool
    paid_broadcast: bool
    launched_at: datetime | None
    closed_at: datetime | None
    submitted_at: datetime | None = None
    reviewed_at: datetime | None = None
    review_comment: str | None = None
    delivery_mode_auto: bool = False
    org_remind_after_hours: int | None = None
    org_escalate_after_hours: int | None = None
    org_auto_pass_on_after_hours: int | None = None
    ask_share_percent: int | None = None


class ContentItemIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    actions: list[str]
    kind: str = "post"
    suggested_caption: str | None = None
    channel_id: OptionalId = None  # the registered channel, when the URL does not show it


class ContentItemOut(msgspec.Struct):
    id: int
    channel_id: int
    url: str
    kind: str
    actions: list[str]
    suggested_caption: str | None
    position: int


class TargetsIn(msgspec.Struct, forbid_unknown_fields=True):
    organization_ids: list[Id] = []
    club_ids: list[Id] = []


class TargetOut(msgspec.Struct):
    organization_id: int | None
    club_id: int | None


class CampaignDetailOut(msgspec.Struct):
    campaign: CampaignOut
    content_items: list[ContentItemOut]
    targets: list[TargetOut]


class LaunchOut(msgspec.Struct):
    campaign: CampaignOut
    assignments_created: int


class AssignmentOut(msgspec.Struct):
    id: int
    campaign_id: int
    member_id: int | None
    group_chat_id: int | None
    status: str
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    done_at: datetime | None
    declined_at: datetime | None
    expired_at: datetime | None


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    assignment_id: Id
    member_id: Id
    action: str
    content_item_id: OptionalId = None
    proof_url: str | None = None


class ReportOut(msgspec.Struct):
    id: int
    assignment_id: int
    member_id: int
    content_item_id: int | None
    action: str
    proof_url: str | None
    source: str
    created_at: datetime


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: str = ""


class RecordedOut(msgspec.Struct):
    report: ReportOut
    created: bool
    assignment_status: str


def _draft(data: JSONBody[CampaignIn]) -> drafting.CampaignDraft:
    return drafting.CampaignDraft(**msgspec.structs.asdict(data))


class CampaignController(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @get("/")
    async def list_campaigns(
        self,
        db: DB,
        actor: CurrentActor,
        status: FromQuery[str | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PageOut[CampaignOut]:
        return page_out(CampaignOut, await reading.list_campaigns(db, actor, status, limit, offset))

    @post("/")
    async def create_campaign(
        self, db: DB, actor: CurrentActor, data: JSONBody[CampaignIn]
    ) -> CampaignOut:
        return out(CampaignOut, await drafting.create_campaign(db, actor, _draft(data)))

    @get("/{campaign_id:int}")
    async def get_campaign(
        self, db: DB, actor: CurrentActor, campaign_id: PathId
    ) -> CampaignDetailOut:
        detail = await reading.get_campaign(db, actor, campaign_id)
        return CampaignDetailOut(
            out(CampaignOut, detail.campaign),
            [out(ContentItemOut, i) for i in detail.items],
            [out(TargetOut, t) for t in detail.targets],
        )

    @put("/{campaign_id:int}")
    async def update_campaign(
        self, db: DB, actor: CurrentActor, campaign_id: PathId, data: JSONBody[CampaignIn]
    ) -> CampaignOut:
        campaign = await drafting.update_campaign(db, actor, campaign_id, _draft(data))
        return out(CampaignOut, campaign)

    @post("/{campaign_id:int}/content-items")
    async def add_content_item(
        self, db: DB, actor: CurrentActor, campaign_id: PathId, data: JSONBody[ContentItemIn]
    ) -> ContentItemOut:
        item = await drafting.add_content_item(
            db,
            actor,
            campaign_id,
            url=data.url,
            kind=data.kind,
            actions=data.actions,
            suggested_caption=data.suggested_caption,
            channel_id=data.channel_id,
        )
        return out(ContentItemOut, item)

    @put("/{campaign_id:int}/targets")
    async def set_targets(
        self, db: DB, actor: CurrentActor, campaign_id: PathId, data: JSONBody[TargetsIn]
    ) -> list[TargetOut]:
        targets = await targeting.set_targets(
            db,
            actor,
            campaign_id,
            organization_ids=data.organization_ids,
            club_ids=data.club_ids,
        )
        return [out(TargetOut, t) for t in targets]

    @post("/{campaign_id:int}/schedule", status_code=200)
    async def schedule(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> CampaignOut:
        return out(CampaignOut, await lifecycle.schedule_campaign(db, actor, campaign_id))

    @post("/{campaign_id:int}/launch", status_code=200)
    async def launch(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> LaunchOut:
        """Activate now and write assignments + outbox rows; repeating adds only new members."""
        result = await lifecycle.launch_campaign(db, actor, campaign_id)
        return LaunchOut(out(CampaignOut, result.campaign), result.created)

    @post("/{campaign_id:int}/submit", status_code=200)
    async def submit(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> CampaignOut:
        """A party's draft goes to the agreement's lead organization for approval."""
        return out(CampaignOut, await approvals.submit_campaign(db, actor, campaign_id))

    @post("/{campaign_id:int}/approve", status_code=200)
    async def approve(
        self, db: DB, actor: CurrentActor, campaign_id: PathId, data: JSONBody[ReviewIn]
    ) -> CampaignOut:
        campaign = await approvals.approve_campaign(db, actor, campaign_id, data.comment)
        return out(CampaignOut, campaign)

    @post("/{campaign_id:int}/return", status_code=200)
    async def return_(
        self, db: DB, actor: CurrentActor, campaign_id: PathId, data: JSONBody[ReviewIn]
    ) -> CampaignOut:
        """Back to a draft, with a comment (required) for the drafter."""
        campaign = await approvals.return_campaign(db, actor, campaign_id, data.comment)
        return out(CampaignOut, campaign)

    @post("/{campaign_id:int}/close", status_code=200)
    async def close(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> CampaignOut:
        return out(CampaignOut, await lifecycle.close_campaign(db, actor, campaign_id))

    @post("/{campaign_id:int}/cancel", status_code=200)
    async def cancel(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> CampaignOut:
        return out(CampaignOut, await lifecycle.cancel_campaign(db, actor, campaign_id))


class AssignmentController(Controller):
    path = "/assignments"
    tags = ["assignments"]

    @get("/")
    async def list_assignments(
        self,
        db: DB,
        actor: CurrentActor,
        campaign_id: OptionalQueryId = None,
        status: FromQuery[str | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[AssignmentOut]:
        page = await reports.list_assignments(db, actor, campaign_id, status, limit, offset)
        return page_out(AssignmentOut, page)


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/")
    async def list_reports(
        self,
        db: DB,
        actor: CurrentActor,
        campaign_id: OptionalQueryId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[ReportOut]:
        return page_out(
            ReportOut, await reports.list_reports(db, actor, campaign_id, limit, offset)
        )

    @post("/")
    async def record_report(
        self, db: DB, actor: CurrentActor, data: JSONBody[ReportIn]
    ) -> RecordedOut:
        """Record a step for a member (a lead for their own people); repeats change nothing."""
        request = reports.ReportRequest(**msgspec.structs.asdict(data), source="api")
        outcome = await reports.record_report(db, request, actor=actor)
        return RecordedOut(
            out(ReportOut, outcome.report), outcome.created, outcome.assignment_status
        )


CONTROLLERS = [CampaignController, AssignmentController, ReportController]
