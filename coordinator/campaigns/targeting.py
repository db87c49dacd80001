"""A campaign's targets: the organizations and clubs it is for, inside its agreement's reach."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col

from coordinator.auth import scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.campaigns import party_rule
from coordinator.campaigns.drafting import follow_targets, require_status
from coordinator.campaigns.models import CampaignTarget
from coordinator.db import Database
from coordinator.errors import Invalid, field_error
from coordinator.organizations.agreements import reach_of


async def set_targets(
    db: Database,
    actor: Actor,
    campaign_id: int,
    *,
    organization_ids: Sequence[int],
    club_ids: Sequence[int],
) -> list[CampaignTarget]:
    """Replace the targets: parties, their sub-organizations, and clubs inside them only."""
    if not organization_ids and not club_ids:
        raise Invalid(
            "Pick at least one organization or club.",
            errors=[field_error("organization_ids", "empty")],
        )
    async with db.write() as session:
        campaign = await scope.editable_campaign(session, actor, campaign_id)
        require_status(campaign, ("draft", "scheduled"), "targets")
        reach = await reach_of(session, campaign.agreement_id)
        outside, bad_clubs = await party_rule.targets_outside(
            session, reach, organization_ids, club_ids
        )
        errors = _outside_errors(outside, bad_clubs)
        if errors:
            raise Invalid(
                "These targets are outside the agreement.",
                errors=errors,
                code="target_outside_agreement",
            )
        await session.execute(
            delete(CampaignTarget).where(col(CampaignTarget.campaign_id) == campaign_id)
        )
        targets = [
            CampaignTarget(campaign_id=campaign_id, organization_id=o)
            for o in sorted(set(organization_ids))
        ]
        targets += [
            CampaignTarget(campaign_id=campaign_id, club_id=c) for c in sorted(set(club_ids))
        ]
        session.add_all(targets)
        await session.flush()
        await follow_targets(session, campaign)
        audit(
            session,
            actor,
            "campaign.targets",
            "campaign",
            campaign_id,
            organizations=sorted(set(organization_ids)),
            clubs=sorted(set(club_ids)),
        )
    return targets


def _outside_errors(outside: Sequence[int], bad_clubs: Sequence[int]) -> list[dict[str, str]]:
    errors = []
    if outside:
        errors.append(
            field_error(
                "organization_ids",
                "not parties of the agreement or below them: {ids}",
                ids=", ".join(map(str, sorted(outside))),
            )
        )
    if bad_clubs:
        errors.append(
            field_error(
                "club_ids",
                "not clubs of the agreement's parties: {ids}",
                ids=", ".join(map(str, sorted(bad_clubs))),
            )
        )
    return errors
