"""Tables of the campaign slice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, one_of, utcnow
from coordinator.campaigns.states import CAMPAIGN_STATUSES


def _fk(target: str, *, nullable: bool = False, cascade: bool = False) -> Column:
    ondelete = "CASCADE" if cascade else None
    return Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


# Reminders of a new campaign, hours before its deadline, unless its author chooses others.
DEFAULT_REMINDER_HOURS = (24, 2)
# Time limits of an organization task (mode `org`), in hours, each counted from the step before:
# remind its focal points, then tell the parent organization's, then (off unless set) pass it on
# to all its members.
DEFAULT_ORG_REMIND_HOURS = 6
DEFAULT_ORG_ESCALATE_HOURS = 12


class Campaign(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(one_of("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint("delivery_mode IN ('dm','group','org')", name="delivery_mode"),
        CheckConstraint("quota_percent IS NULL OR quota_percent BETWEEN 1 AND 100", name="quota"),
        CheckConstraint(
            "ask_share_percent IS NULL OR ask_share_percent BETWEEN 1 AND 100", name="ask_share"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(sa_column=_fk("agreement.id"))
    title: str = Field(max_length=200)
    brief: str = Field(default="", sa_type=Text)
    status: str = Field(default="draft", max_length=12, index=True)
    launch_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    deadline_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    quota_percent: int | None = None
    # Fair load: ask only this share of each organization's members, those asked least first
    # (None: everyone; `campaigns/fairload.py`).
    ask_share_percent: int | None = None
    delivery_mode: str = Field(default="dm", max_length=5)
    # No mode was chosen: it follows the targets (`org` for more than one organization).
    delivery_mode_auto: bool = False
    proof_requested: bool = False
    # Hours before the deadline at which those not done are reminded, e.g. [24, 2].
    reminder_hours: list[int] = Field(
        default_factory=lambda: list(DEFAULT_REMINDER_HOURS), sa_column=Column(JSON, nullable=False)
    )
    remind_in_quiet_hours: bool = False  # 22:00-07:00 local is quiet unless this is set
    # An organization task nobody acted on (mode `org`): hours to the reminder, then to the note
    # to the parent organization, then to the automatic pass-on to all members (None: never).
    org_remind_after_hours: int | None = DEFAULT_ORG_REMIND_HOURS
    org_escalate_after_hours: int | None = DEFAULT_ORG_ESCALATE_HOURS
    org_auto_pass_on_after_hours: int | None = None
    # Urgent: send with allow_paid_broadcast (up to 1,000/s, Stars from the bot's balance).
    paid_broadcast: bool = False
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    launched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Approval under the agreement: the last submission and the lead's answer to it (the
    # comment of a return stays on the draft until the next approval).
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str | None = Field(default=None, sa_type=Text)


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_item"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=_fk("campaign.id", cascade=True))
    channel_id: int = Field(sa_column=_fk("channel.id"))
    url: str = Field(max_length=500)
    kind: str = Field(default="post", max_length=20)
    actions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    suggested_caption: str | None = Field(default=None, sa_type=Text)
    position: int = 0


class CampaignTarget(SQLModel, table=True):
    """One target: a whole organization subtree, or one club."""

    __tablename__ = "campaign_target"
    __table_args__ = (
        CheckConstraint("(organization_id IS NULL) <> (club_id IS NULL)", name="one_target"),
        UniqueConstraint("campaign_id", "organization_id"),
        UniqueConstraint("campaign_id", "club_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=_fk("campaign.id", cascade=True))
    organization_id: int | None = Field(
        default=None, sa_column=_fk("organization.id", nullable=True)
    )
    club_id: int | None = Field(default=None, sa_column=_fk("club.id", nullable=True))


ASSIGNMENT_STATUSES = ("pending", "delivered", "acknowledged", "done", "declined", "expired")


class Assignment(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (group_chat_id IS NULL)", name="one_recipient"),
        CheckConstraint(
            one_of("status", ASSIGNMENT_STATUSES),
            name="status",
        ),
        UniqueConstraint("campaign_id", "member_id"),
        UniqueConstraint("campaign_id", "group_chat_id"),
        # Partial: a DM task (nearly every task of a launch) has no group chat, and indexing
        # its NULL cost a launch's assignment insert for nothing (migration 0020).
        Index(
            "ix_assignment_group_chat_id",
            "group_chat_id",
            postgresql_where=text("group_chat_id IS NOT NULL"),
            sqlite_where=text("group_chat_id IS NOT NULL"),
        ),
        # Ends with id: a chunk of task cards is a range of ids (migration 0027).
        Index("ix_assignment_campaign_status", "campaign_id", "status", "id"),
        # The weekly cap's load reads this week's tasks (fairload._this_week), not all of them.
        Index("ix_assignment_created_at", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=Column(Integer, ForeignKey("campaign.id"), nullable=False))
    member_id: int | None = Field(default=None, sa_column=_fk("member.id", nullable=True))
    group_chat_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("group_chat.id"), nullable=True),
    )
    status: str = Field(default="pending", max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    declined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))


ORGANIZATION_TASK_STATUSES = ("pending", "received", "passed_on", "declined")
PASS_ON_CHOICES = ("members", "clubs", "groups", "suborgs")


class OrganizationTask(SQLModel, table=True):
    """A campaign handed to one organization (delivery mode `org`): its focal points receive
    it and pass it on to their own members, clubs, group chats or sub-organizations."""

    __tablename__ = "organization_task"
    __table_args__ = (
        CheckConstraint(one_of("status", ORGANIZATION_TASK_STATUSES), name="status"),
        UniqueConstraint("campaign_id", "organization_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=_fk("campaign.id", cascade=True))
    organization_id: int = Field(sa_column=_fk("organization.id"))
    # The task of the parent organization that passed it down (None: the launch did).
    parent_task_id: int | None = Field(
        default=None, sa_column=_fk("organization_task.id", nullable=True)
    )
    status: str = Field(default="pending", max_length=12)
    # The pass-on choices applied so far, each once (a subset of PASS_ON_CHOICES, in order).
    passed_on_how: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decline_reason: str | None = Field(default=None, sa_type=Text)
    acted_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    passed_on_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    declined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The time limits' steps, each taken once by the scheduler (`campaigns/escalation.py`).
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    auto_passed_on_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HeldTask(SQLModel, table=True):
    """A task held back from a volunteer who had reached the weekly cap (fair load): it is not
    an assignment yet, so no tally counts it; the scheduler turns it into one once the week
    turns over, while the campaign still runs. Kept when the campaign ends unreleased, so the
    status page can say how many never went out."""

    __tablename__ = "held_task"
    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    )
    member_id: int = Field(
        sa_column=Column(Integer, ForeignKey("member.id"), primary_key=True, index=True)
    )
    held_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


REPORT_STATUS_ACTIONS = ("acknowledged", "done", "declined")
CONTENT_ACTIONS = ("share", "react", "comment", "watch")


class Report(SQLModel, table=True):
    """A self-reported step: an assignment-level status, or one action on one content item."""

    __table_args__ = (
        # One report per (assignment, member, item, action); COALESCE because NULLs never collide.
        Index(
            "uq_report_once",
            "assignment_id",
            "member_id",
            text("COALESCE(content_item_id, 0)"),
            "action",
            unique=True,
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(sa_column=_fk("assignment.id"))
    member_id: int = Field(sa_column=_fk("member.id"))
    content_item_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("content_item.id"), nullable=True)
    )
    action: str = Field(max_length=20)
    proof_url: str | None = Field(default=None, max_length=500)
    source: str = Field(default="telegram", max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CampaignTemplate(SQLModel, table=True):
    """A campaign kept to start others from: its brief, settings, content and targets, without
    dates (each campaign started from it gets its own)."""

    __tablename__ = "campaign_template"
    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(sa_column=_fk("agreement.id", cascade=True))
    title: str = Field(max_length=200)
    brief: str = Field(default="", sa_type=Text)
    # The campaign's settings (quota, delivery mode, proof, reminders, quiet hours, paid).
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [{"url", "kind", "actions", "suggested_caption", "channel_id"}, ...] in order.
    items: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # {"organization_ids": [...], "club_ids": [...]}
    targets: dict[str, list[int]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
