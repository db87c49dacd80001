"""Completion reports: acknowledge, done, decline, per-item actions. Idempotent, forward only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.campaigns import report_rows
from coordinator.campaigns.models import (
    CONTENT_ACTIONS,
    REPORT_STATUS_ACTIONS,
    Assignment,
    ContentItem,
    Report,
)
from coordinator.campaigns.report_rows import Loaded, Recorded, Task, key
from coordinator.campaigns.states import assignment_move
from coordinator.db import Database
from coordinator.errors import Conflict, DomainError, Invalid, NotFound, field_error
from coordinator.organizations.agreements import check_url
from coordinator.organizations.models import GroupChat, MemberClub
from coordinator.organizations.tree import subtree_ids
from coordinator.pagination import Page, paginate

# Why a report is refused, by code: the API's problem detail, and the bot's short reply in the
# member's language (a task moving backwards tells the API more: `_advance`).
REFUSALS = {
    "deadline_passed": "The deadline has passed; reports are closed for this task.",
    "campaign_not_active": "This task is no longer running.",
    "not_a_member": "Only members of this group's organization can report here.",
    "not_your_task": "This task belongs to someone else.",
    "status_backwards": "This task is already finished.",
}


def _refused(code: str) -> Conflict:
    return Conflict(REFUSALS[code], code=code)


@dataclass
class ReportRequest:
    assignment_id: int
    member_id: int
    action: str
    content_item_id: int | None = None
    proof_url: str | None = None
    source: str = "telegram"


@dataclass
class ReportOutcome:
    recorded: Recorded
    created: bool
    assignment_status: str

    @property
    def report(self) -> Report:
        """The report as the API shows it; built on demand (a press needs only `recorded`)."""
        return Report(**vars(self.recorded))


def _check_request(req: ReportRequest) -> None:
    if req.action in REPORT_STATUS_ACTIONS:
        if req.content_item_id is not None:
            raise Invalid(
                "A status report is about the whole task.",
                errors=[field_error("content_item_id", f"not allowed with {req.action}")],
            )
    elif req.action in CONTENT_ACTIONS:
        if req.content_item_id is None:
            raise Invalid(
                "Say which content item.", errors=[field_error("content_item_id", "required")]
            )
    else:
        raise Invalid(
            "Unknown action.",
            errors=[
                field_error(
                    "action", f"one of {', '.join(REPORT_STATUS_ACTIONS + CONTENT_ACTIONS)}"
                )
            ],
        )
    if req.proof_url is not None:
        req.proof_url = check_url(req.proof_url, "proof_url")


async def _check_reporter(session: AsyncSession, assignment: Task, member: Any) -> None:
    """DM: only the assignee. Group: a linked, active member of the group's organization or club."""
    if assignment.member_id is not None:
        if assignment.member_id != member.id:
            raise _refused("not_your_task")
        return
    group = await session.get(GroupChat, assignment.group_chat_id)
    assert group is not None
    if group.club_id is not None:
        allowed = await session.scalar(
            select(MemberClub.member_id).where(
                MemberClub.club_id == group.club_id, MemberClub.member_id == member.id
            )
        )
    else:
        allowed = member.organization_id in await subtree_ids(session, [group.organization_id])
    if not allowed or member.deactivated_at is not None:
        raise _refused("not_a_member")


def _prove_delivery(assignment: Task, req: ReportRequest, now: datetime) -> None:
    """A press in Telegram proves the message arrived, even when it comes before the sender has
    recorded its batch: the first proof sets `delivered_at`, and the sent-record, which only
    moves a `pending` task, leaves it be. A report entered on the web proves nothing."""
    if req.source != "telegram" or assignment.delivered_at is not None:
        return
    assignment.delivered_at = now
    if assignment.status == "pending":
        assignment.status = "delivered"


async def _advance(assignment: Task, req: ReportRequest, now: datetime) -> None:
    """Move a DM assignment forward; item actions count as an acknowledgement."""
    _prove_delivery(assignment, req, now)
    if assignment.member_id is None:
        return  # a group message has no single status; its members' reports are the record
    target = req.action if req.action in REPORT_STATUS_ACTIONS else "acknowledged"
    new = assignment_move(assignment.status, target)
    if new is None:
        if req.action in CONTENT_ACTIONS and assignment.status == "done":
            return
        raise Conflict(
            f"The task is already {assignment.status}; it cannot become {target}.",
            code="status_backwards",
        )
    if new != assignment.status:
        assignment.status = new
        setattr(assignment, f"{new}_at", now)


async def _record_one(
    session: AsyncSession, req: ReportRequest, rows: Loaded, actor: Actor | None, now: datetime
) -> ReportOutcome:
    """Every rule of one report, against rows loaded (and locked) by the caller."""
    _check_request(req)
    assignment = rows.assignments.get(req.assignment_id)
    member = rows.members.get(req.member_id)
    if assignment is None or member is None:
        raise NotFound("No such task or member.")
    if actor is not None:
        policy.require_organization(actor, member.organization_id)
    await _check_reporter(session, assignment, member)
    if (existing := rows.reports.get(key(req))) is not None:
        return ReportOutcome(existing, False, assignment.status)
    campaign = rows.campaigns[assignment.campaign_id]
    if campaign.status != "active" or assignment.status == "expired":
        raise _refused("campaign_not_active")
    if now > campaign.deadline_at:
        raise _refused("deadline_passed")
    if req.content_item_id is not None:
        item = await session.get(ContentItem, req.content_item_id)
        if item is None or item.campaign_id != campaign.id or req.action not in item.actions:
            raise Invalid(
                "That action was not asked for this item.",
                errors=[field_error("action", "not requested for this content item")],
            )
    await _advance(assignment, req, now)
    report = Recorded(
        req.assignment_id,
        req.member_id,
        req.content_item_id,
        req.action,
        req.proof_url,
        req.source,
        now,
    )
    rows.new.append(report)
    rows.reports[key(req)] = report
    if actor is not None:
        audit(session, actor, "report.record", "assignment", req.assignment_id, step=req.action)
    return ReportOutcome(report, True, assignment.status)


async def record_reports_in(
    session: AsyncSession,
    reqs: Sequence[ReportRequest],
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> list[ReportOutcome | DomainError]:
    """Record several steps in the caller's transaction, in order, each judged as if alone.

    A refused step is returned as its error and changes nothing; the others still count.
    This is how the bot records a burst of button presses in one commit.
    """
    if not reqs:
        return []  # e.g. a batch of presses that were all repeats
    now = now or utcnow()
    task_ids = sorted({r.assignment_id for r in reqs})
    rows = await report_rows.load(session, task_ids, {r.member_id for r in reqs})
    results: list[ReportOutcome | DomainError] = []
    for req in reqs:
        try:
            results.append(await _record_one(session, req, rows, actor, now))
        except DomainError as exc:
            results.append(exc)
    await report_rows.write(session, rows)
    return results


async def record_report(
    db: Database, req: ReportRequest, *, actor: Actor | None = None, now: datetime | None = None
) -> ReportOutcome:
    """Record one step. A repeat returns the first report; nothing moves backwards.

    `actor=None` means the member reported it themselves (through the bot); an actor is an
    admin or the member's lead recording it for them.
    """
    _check_request(req)
    async with db.write() as session:
        (result,) = await record_reports_in(session, [req], actor=actor, now=now)
        if isinstance(result, DomainError):
            raise result
    return result


async def attach_proof(db: Database, report_id: int, member_id: int, url: str) -> Report:
    """A volunteer's link to what they did, added to their own Done report."""
    url = check_url(url, "proof_url")
    async with db.write() as session:
        report = await session.get(Report, report_id)
        if report is None or report.member_id != member_id or report.action != "done":
            raise NotFound("No such report of yours.")
        report.proof_url = url
    return report


async def list_reports(
    db: Database, actor: Actor, campaign_id: int | None, limit: int, offset: int
) -> Page[Report]:
    visible = scope.assignments(actor, select(Assignment.id))
    stmt = select(Report).where(col(Report.assignment_id).in_(visible)).order_by(col(Report.id))
    if campaign_id is not None:
        stmt = stmt.where(
            col(Report.assignment_id).in_(
                select(Assignment.id).where(Assignment.campaign_id == campaign_id)
            )
        )
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)


async def list_assignments(
    db: Database, actor: Actor, campaign_id: int | None, status: str | None, limit: int, offset: int
) -> Page[Assignment]:
    stmt = scope.assignments(actor, select(Assignment).order_by(col(Assignment.id)))
    if campaign_id is not None:
        stmt = stmt.where(Assignment.campaign_id == campaign_id)
    if status is not None:
        stmt = stmt.where(Assignment.status == status)
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)
