"""Agreements (cooperation charters) with their parties.

The rules that campaigns lean on live here: which agreement is valid on which dates and which
organizations it reaches. Official channels, and which one a content URL is on, live in
`channels` (re-exported here for the callers that import them from this module).

Campaigns sit above organizations, so this module never imports them. What an agreement edit
would break upstairs is asked through a small registry instead: a slice above registers a check
with `on_party_change(check)`; `update_agreement` calls every check when a party is removed or
the dates change, and refuses with `AgreementChangeBreaks` (listing what breaks) unless the
editor confirmed. The campaigns slice registers its check in `campaigns.party_rule`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import row_id
from coordinator.db import Database
from coordinator.errors import Conflict, Invalid, NotFound, field_error
from coordinator.organizations.channels import (
    PLATFORMS,
    channel_for_url,
    check_url,
    create_channel,
    list_channels,
    url_belongs_to,
)
from coordinator.organizations.models import Agreement, AgreementParty, Organization
from coordinator.organizations.tree import subtree_ids
from coordinator.pagination import Page, paginate

__all__ = [
    "PLATFORMS",
    "channel_for_url",
    "check_url",
    "create_channel",
    "list_channels",
    "url_belongs_to",
]


@dataclass(frozen=True)
class AgreementChange:
    """An edit about to be saved: the agreement's parties and dates after it."""

    agreement_id: int
    party_ids: list[int]
    removed_party_ids: list[int]
    valid_from: date
    valid_until: date


@dataclass(frozen=True)
class Broken:
    """Something an agreement change would break: `reason` is a message id, `values` fill it."""

    id: int
    title: str
    reason: str
    values: dict[str, Any] = field(default_factory=dict)


ChangeCheck = Callable[[AsyncSession, AgreementChange], Awaitable[list[Broken]]]
_CHANGE_CHECKS: list[ChangeCheck] = []


def on_party_change(check: ChangeCheck) -> ChangeCheck:
    """Register a check run before an agreement loses a party or changes its dates (once)."""
    if check not in _CHANGE_CHECKS:
        _CHANGE_CHECKS.append(check)
    return check


class AgreementChangeBreaks(Conflict):
    """The edit would break the campaigns in `broken`; saving again with `confirm` accepts it."""

    code = "agreement_change_breaks_campaigns"

    def __init__(self, broken: list[Broken]) -> None:
        super().__init__(
            "This change breaks the campaigns listed. Confirm to save it anyway.",
            errors=[
                {
                    "field": "campaigns",
                    "campaign_id": b.id,
                    "title": b.title,
                    "message": b.reason.format(**b.values),
                }
                for b in broken
            ],
        )
        self.broken = broken


async def _broken_by(
    session: AsyncSession, agreement: Agreement, parties: list[int], valid: tuple[date, date]
) -> list[Broken]:
    """What every registered check says the change would break (nothing if nothing shrinks)."""
    before = await party_ids(session, row_id(agreement))
    removed = sorted(set(before) - set(parties))
    if not removed and valid == (agreement.valid_from, agreement.valid_until):
        return []
    change = AgreementChange(row_id(agreement), parties, removed, *valid)
    return [b for check in _CHANGE_CHECKS for b in await check(session, change)]


async def create_agreement(
    db: Database,
    actor: Actor | None,
    *,
    title: str,
    lead_organization_id: int,
    party_ids: Sequence[int],
    signed_on: date,
    valid_from: date,
    valid_until: date,
    document_url: str | None = None,
) -> Agreement:
    if actor is not None:
        policy.require(
            policy.drafts_agreement_for(actor, lead_organization_id), policy.AGREEMENT_REFUSED
        )
    document_url = _check_agreement(title, signed_on, valid_from, valid_until, document_url)
    parties = sorted({lead_organization_id, *party_ids})
    async with db.write() as session:
        await _check_parties(session, parties)
        agreement = Agreement(
            title=title.strip(),
            lead_organization_id=lead_organization_id,
            signed_on=signed_on,
            valid_from=valid_from,
            valid_until=valid_until,
            document_url=document_url,
        )
        session.add(agreement)
        await session.flush()
        session.add_all(
            AgreementParty(agreement_id=row_id(agreement), organization_id=p) for p in parties
        )
        audit(session, actor, "agreement.create", "agreement", agreement.id, parties=parties)
    return agreement


def _check_agreement(
    title: str, signed_on: date, valid_from: date, valid_until: date, document_url: str | None
) -> str | None:
    errors = []
    if not 1 <= len(title.strip()) <= 300:
        errors.append(field_error("title", "1-300 characters"))
    if valid_until < valid_from:
        errors.append(field_error("valid_until", "must not be before valid_from"))
    if signed_on > valid_until:
        errors.append(field_error("signed_on", "must not be after valid_until"))
    if errors:
        raise Invalid("The agreement cannot be saved.", errors=errors)
    return check_url(document_url, "document_url") if document_url else None


async def _check_parties(session: AsyncSession, parties: Sequence[int]) -> None:
    found = set(
        (
            await session.scalars(select(Organization.id).where(col(Organization.id).in_(parties)))
        ).all()
    )
    if missing := sorted(set(parties) - found):
        raise Invalid(
            "Unknown organizations.", errors=[field_error("party_ids", f"not found: {missing}")]
        )


async def update_agreement(
    db: Database,
    actor: Actor,
    agreement_id: int,
    *,
    title: str,
    party_ids: Sequence[int],
    signed_on: date,
    valid_from: date,
    valid_until: date,
    document_url: str | None = None,
    confirm: bool = False,
) -> Agreement:
    """Correct an agreement; the lead organization stays a party. Removing a party or changing
    the dates is refused with `AgreementChangeBreaks` while it would break something registered
    with `on_party_change`, unless `confirm`."""
    policy.require(policy.drafts_agreements(actor), policy.AGREEMENT_REFUSED)
    document_url = _check_agreement(title, signed_on, valid_from, valid_until, document_url)
    async with db.write() as session:
        agreement = await session.scalar(
            scope.agreements(actor, select(Agreement).where(Agreement.id == agreement_id))
        )
        if agreement is None:
            raise NotFound(f"Agreement {agreement_id} not found.")
        policy.require(
            policy.drafts_agreement_for(actor, agreement.lead_organization_id),
            policy.AGREEMENT_REFUSED,
        )
        parties = sorted({agreement.lead_organization_id, *party_ids})
        await _check_parties(session, parties)
        broken = await _broken_by(session, agreement, parties, (valid_from, valid_until))
        if broken and not confirm:
            raise AgreementChangeBreaks(broken)
        agreement.title = title.strip()
        agreement.signed_on, agreement.valid_from = signed_on, valid_from
        agreement.valid_until, agreement.document_url = valid_until, document_url
        await session.execute(
            delete(AgreementParty).where(col(AgreementParty.agreement_id) == agreement_id)
        )
        session.add_all(
            AgreementParty(agreement_id=agreement_id, organization_id=p) for p in parties
        )
        audit(
            session,
            actor,
            "agreement.update",
            "agreement",
            agreement_id,
            parties=parties,
            broken=[b.id for b in broken],
        )
    return agreement


async def party_ids(session: AsyncSession, agreement_id: int) -> list[int]:
    rows = await session.scalars(
        select(AgreementParty.organization_id).where(AgreementParty.agreement_id == agreement_id)
    )
    return sorted(rows.all())


async def reach_of(session: AsyncSession, agreement_id: int) -> set[int]:
    """Organizations a campaign under this agreement may target: parties and everything below."""
    return await subtree_ids(session, await party_ids(session, agreement_id))


async def list_agreements(
    db: Database, actor: Actor, limit: int, offset: int
) -> tuple[Page[Agreement], dict[int, list[int]]]:
    """A page of agreements and the parties of each."""
    stmt = scope.agreements(actor, select(Agreement).order_by(col(Agreement.id)))
    async with db.read() as session:
        page = await paginate(session, stmt, limit, offset)
        rows = await session.execute(
            select(AgreementParty.agreement_id, AgreementParty.organization_id).where(
                col(AgreementParty.agreement_id).in_([a.id for a in page.items])
            )
        )
    parties: dict[int, list[int]] = {row_id(a): [] for a in page.items}
    for agreement_id, organization_id in rows.all():
        parties[agreement_id].append(organization_id)
    return page, {k: sorted(v) for k, v in parties.items()}


async def get_agreement(
    db: Database, actor: Actor, agreement_id: int
) -> tuple[Agreement, list[int]]:
    async with db.read() as session:
        agreement = await session.scalar(
            scope.agreements(actor, select(Agreement).where(Agreement.id == agreement_id))
        )
        if agreement is None:
            raise NotFound(f"Agreement {agreement_id} not found.")
        return agreement, await party_ids(session, agreement_id)
