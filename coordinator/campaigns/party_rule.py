"""The party rule: a campaign reaches only its agreement's parties and what lies below them.

It can break in three places, and is checked in all of them, by the functions here:
- when targets are saved (`targets_outside`, used by `targeting.set_targets`);
- at launch, by hand or by the scheduler (`require_within_reach`, used by
  `lifecycle.launch_campaign`): a party removed since the targets were saved refuses the launch,
  naming the organizations no longer covered;
- when an agreement loses a party or its dates change (`affected_campaigns`): organizations sit
  below campaigns and never import them, so this module hands the check down by registering it
  with `agreements.on_party_change`; the agreement's editor then lists the campaigns it would
  break before saving. Importing this module registers the check (the campaign services and
  routes import it, so it is in place whenever an agreement can be edited).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.campaigns.models import Campaign, CampaignTarget
from coordinator.clock import local_date
from coordinator.errors import Invalid, field_error
from coordinator.organizations import agreements
from coordinator.organizations.agreements import AgreementChange, Broken, reach_of
from coordinator.organizations.models import Club, Organization
from coordinator.organizations.tree import subtree_ids

# Campaigns an agreement change can still break.
LIVE = ("draft", "submitted", "approved", "scheduled", "active")
LEFT = "No longer covered by the agreement's parties: {names}. Change the targets first."


class NoLongerParty(Invalid):
    """A launch refused because targets fell outside the agreement; `message` and `values`
    translate it (the detail is the English text, for the API and the scheduler's log)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            LEFT,
            values={"names": ", ".join(names)},
            errors=[field_error("targets", "no longer parties of the agreement or below them")],
            code="party_left",
        )


async def targets_outside(
    session: AsyncSession, reach: set[int], organization_ids: Iterable[int], club_ids: Iterable[int]
) -> tuple[list[int], list[int]]:
    """(organizations, clubs) among these targets that the reach does not cover."""
    club_ids = set(club_ids)
    clubs = (
        (await session.scalars(select(Club).where(col(Club.id).in_(club_ids)))).all()
        if club_ids
        else []
    )
    inside = {c.id for c in clubs if c.organization_id in reach}
    return sorted(set(organization_ids) - reach), sorted(club_ids - inside)


async def _outside_names(session: AsyncSession, campaign_id: int, reach: set[int]) -> list[str]:
    """Names of the campaign's targets outside `reach`: organizations, then clubs."""
    rows = (
        await session.execute(
            select(CampaignTarget.organization_id, CampaignTarget.club_id).where(
                CampaignTarget.campaign_id == campaign_id
            )
        )
    ).all()
    orgs, clubs = await targets_outside(
        session, reach, [o for o, _ in rows if o], [c for _, c in rows if c]
    )
    names = (
        []
        if not orgs
        else (
            await session.scalars(
                select(Organization.name)
                .where(col(Organization.id).in_(orgs))
                .order_by(col(Organization.name))
            )
        ).all()
    )
    club_names = (
        []
        if not clubs
        else (
            await session.scalars(
                select(Club.name).where(col(Club.id).in_(clubs)).order_by(col(Club.name))
            )
        ).all()
    )
    return [*names, *club_names]


async def require_within_reach(session: AsyncSession, campaign: Campaign) -> None:
    """Refuse a launch whose targets are no longer covered by the agreement's parties."""
    assert campaign.id is not None
    reach = await reach_of(session, campaign.agreement_id)
    if names := await _outside_names(session, campaign.id, reach):
        raise NoLongerParty(names)


async def affected_campaigns(session: AsyncSession, change: AgreementChange) -> list[Broken]:
    """The live campaigns under the agreement that the change would break, and why."""
    live = (
        await session.scalars(
            select(Campaign)
            .where(
                col(Campaign.agreement_id) == change.agreement_id,
                col(Campaign.status).in_(LIVE),
            )
            .order_by(col(Campaign.id))
        )
    ).all()
    reach = await subtree_ids(session, change.party_ids) if change.removed_party_ids else None
    broken = []
    for campaign in live:
        assert campaign.id is not None
        first, last = local_date(campaign.launch_at), local_date(campaign.deadline_at)
        if first < change.valid_from or last > change.valid_until:
            reason = "It runs {first} to {last}, outside the agreement's new dates."
            values = {"first": f"{first:%d/%m/%Y}", "last": f"{last:%d/%m/%Y}"}
            broken.append(Broken(campaign.id, campaign.title, reason, values))
        elif reach is not None and (names := await _outside_names(session, campaign.id, reach)):
            reason = "Its targets would no longer be covered: {names}."
            broken.append(Broken(campaign.id, campaign.title, reason, {"names": ", ".join(names)}))
    return broken


agreements.on_party_change(affected_campaigns)
