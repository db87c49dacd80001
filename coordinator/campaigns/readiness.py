"""Is a campaign ready to launch now? Checked for the launch page, before any confirmation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import scope
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.bots.pacing import delivery_estimate
from coordinator.campaigns import launch as materialize
from coordinator.campaigns.models import Campaign, CampaignTarget, ContentItem
from coordinator.campaigns.sweeps import QUIET_FROM, QUIET_UNTIL, in_quiet_hours
from coordinator.db import Database
from coordinator.organizations.models import GroupChat, Member

Notice = tuple[str, dict[str, object]]  # a message id and its values, translated by the page


@dataclass
class Readiness:
    campaign: Campaign
    volunteers: int
    groups: int
    recipients: int
    seconds: float  # delivery at the current rate (or as a paid broadcast, if it is one)
    paid_seconds: float
    stars: float
    skipped: int  # targeted, but Telegram refused the last message: not messaged again
    blocking: list[Notice] = field(default_factory=list)  # "Launch now" is not offered
    warnings: list[Notice] = field(default_factory=list)  # said before the confirmation

    @property
    def can_launch(self) -> bool:
        return not self.blocking


async def readiness(
    db: Database,
    actor: Actor,
    campaign_id: int,
    *,
    rate: float,
    paid: bool,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> Readiness:
    now = now or utcnow()
    async with db.read() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        volunteers, groups = await materialize.audience(session, campaign)
        skipped = await _unreachable(session, campaign)
        has_items = await session.scalar(
            select(ContentItem.id).where(ContentItem.campaign_id == campaign_id).limit(1)
        )
        has_targets = await session.scalar(
            select(CampaignTarget.id).where(CampaignTarget.campaign_id == campaign_id).limit(1)
        )
    recipients = groups if campaign.delivery_mode == "group" else volunteers
    free, paid_seconds, stars = delivery_estimate(recipients, rate)
    seconds = paid_seconds if paid or campaign.paid_broadcast else free
    out = Readiness(campaign, volunteers, groups, recipients, seconds, paid_seconds, stars, skipped)
    if not has_items:
        out.blocking.append(("Add at least one content item before launching.", {}))
    if not has_targets:
        out.blocking.append(("Choose who receives it before launching.", {}))
    elif recipients == 0:
        out.blocking.append(
            (
                "Nobody would receive it: no one in the chosen organizations and clubs can be "
                "reached in Telegram yet. Send invitations first, or choose other targets.",
                {},
            )
        )
    if skipped:
        out.warnings.append(
            (
                "{count} of the targeted chats are skipped: they blocked the bot or left "
                "Telegram. They get campaigns again once they press Start in the bot.",
                {"count": skipped},
            )
        )
    _check_timing(out, now, tz)
    return out


def _check_timing(out: Readiness, now: datetime, tz: ZoneInfo) -> None:
    """The deadline and quiet hours, against the delivery time at the current rate."""
    if out.campaign.deadline_at <= now:
        out.blocking.append(("The deadline has passed: set a later deadline first.", {}))
    elif out.recipients and (out.campaign.deadline_at - now).total_seconds() < out.seconds:
        out.warnings.append(
            ("At the current rate, delivery would not finish before the deadline.", {})
        )
    if in_quiet_hours(now, tz):
        out.warnings.append(
            (
                "It is {time} now, in quiet hours ({start}:00-{end:02d}:00): volunteers would "
                "be messaged at night. Consider launching at {end:02d}:00 instead.",
                {
                    "time": now.astimezone(tz).strftime("%H:%M"),
                    "start": QUIET_FROM,
                    "end": QUIET_UNTIL,
                },
            )
        )


async def _unreachable(session: AsyncSession, campaign: Campaign) -> int:
    """Targeted members (or group chats, in group mode) a launch leaves out as unreachable."""
    assert campaign.id is not None
    orgs, clubs = await materialize.campaign_targets(session, campaign.id)
    if campaign.delivery_mode == "group":
        where = (
            *materialize.targeted_groups(orgs, clubs),
            col(GroupChat.unreachable_at).is_not(None),
        )
        query = select(func.count()).select_from(GroupChat).where(*where)
    else:
        where = (
            *materialize.targeted_members(orgs, clubs),
            col(Member.unreachable_at).is_not(None),
        )
        query = select(func.count()).select_from(Member).where(*where)
    return int(await session.scalar(query) or 0)
