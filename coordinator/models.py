"""Every table, imported in one place so that Alembic and tests see the whole metadata."""

from sqlmodel import SQLModel

from coordinator.auth.models import (
    ApiToken,
    AuditEvent,
    MfaRequiredRole,
    RecoveryCode,
    SignInAttempt,
    User,
    UserTotp,
    WebSession,
)
from coordinator.bots.models import BotRecord, TelegramUpdate
from coordinator.campaigns.models import (
    Assignment,
    Campaign,
    CampaignTarget,
    CampaignTemplate,
    ContentItem,
    OrganizationTask,
    Report,
)
from coordinator.delivery.models import BotChat, CardBacklog, OutboxMessage
from coordinator.organizations.models import (
    Agreement,
    AgreementParty,
    Channel,
    Club,
    FocalPoint,
    GroupChat,
    Invite,
    Member,
    MemberClub,
    Organization,
)
from coordinator.supervisor import LoopHeartbeat
from coordinator.tallies.models import MemberTally, TallySummary

metadata = SQLModel.metadata

__all__ = [
    "Agreement",
    "AgreementParty",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "BotChat",
    "BotRecord",
    "Campaign",
    "CampaignTarget",
    "CampaignTemplate",
    "CardBacklog",
    "Channel",
    "Club",
    "ContentItem",
    "FocalPoint",
    "GroupChat",
    "Invite",
    "LoopHeartbeat",
    "Member",
    "MemberClub",
    "MemberTally",
    "MfaRequiredRole",
    "Organization",
    "OrganizationTask",
    "OutboxMessage",
    "RecoveryCode",
    "Report",
    "SignInAttempt",
    "TallySummary",
    "TelegramUpdate",
    "User",
    "UserTotp",
    "WebSession",
    "metadata",
]
