"""Focal points: the users who receive an organization's campaigns (delivery through
organizations). An organization none of whose focal points is linked in Telegram is shown as
such: on the agreement's pages (each party's focal points) and at launch. Naming them:
campaigns/cascade_service.py `set_focal_points`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.models import User
from coordinator.auth.scope import Actor
from coordinator.db import Database
from coordinator.organizations.agreements import get_agreement
from coordinator.organizations.models import Agreement, FocalPoint, Organization


async def unserved_ids(session: AsyncSession, org_ids: Iterable[int]) -> set[int]:
    """Those of these organizations that no active focal point linked to Telegram serves."""
    wanted = set(org_ids)
    served = await session.scalars(
        select(FocalPoint.organization_id)
        .join(User, col(User.id) == FocalPoint.user_id)
        .where(
            col(FocalPoint.organization_id).in_(wanted),
            col(User.active),
            col(User.telegram_user_id).is_not(None),
        )
    )
    return wanted - set(served)


async def linked(session: AsyncSession, org_ids: Iterable[int]) -> list[tuple[int, User]]:
    """(organization, focal point) for each focal point of these organizations that a Telegram
    message reaches (active, linked), in a stable order."""
    found = await session.execute(
        select(FocalPoint.organization_id, User)
        .join(User, col(User.id) == FocalPoint.user_id)
        .where(
            col(FocalPoint.organization_id).in_(set(org_ids)),
            col(User.active),
            col(User.telegram_user_id).is_not(None),
        )
        .order_by(col(FocalPoint.organization_id), col(User.id))
    )
    return [(int(org), user) for org, user in found.all()]


@dataclass(frozen=True)
class Person:
    """A user as the focal point form shows them; `linked`: active and in Telegram."""

    user_id: int
    username: str
    linked: bool


_PERSON = (col(User.id), col(User.username), col(User.active), col(User.telegram_user_id))


async def named(session: AsyncSession, org_ids: Iterable[int]) -> dict[int, list[Person]]:
    """Each organization's focal points, by username."""
    return await _people(
        session,
        sa_select(col(FocalPoint.organization_id), *_PERSON)
        .join(User, col(User.id) == FocalPoint.user_id)
        .where(col(FocalPoint.organization_id).in_(set(org_ids))),
    )


async def candidates(session: AsyncSession, org_ids: Iterable[int]) -> dict[int, list[Person]]:
    """The active users of each organization: who may be named its focal point."""
    return await _people(
        session,
        sa_select(col(User.organization_id), *_PERSON).where(
            col(User.organization_id).in_(set(org_ids)), col(User.active)
        ),
    )


async def _people(session: AsyncSession, stmt: Any) -> dict[int, list[Person]]:
    out: dict[int, list[Person]] = {}
    for org, user_id, username, active, telegram in (await session.execute(stmt)).all():
        person = Person(user_id, username, bool(active) and telegram is not None)
        out.setdefault(org, []).append(person)
    for people in out.values():
        people.sort(key=lambda p: p.username.lower())
    return out


@dataclass
class PartyFocalPoints:
    """One party of an agreement (its lead first) with its focal points and who could be."""

    organization_id: int
    name: str
    lead: bool
    focal_points: list[Person]
    candidates: list[Person]

    @property
    def unserved(self) -> bool:
        """No linked focal point: a campaign handed to it reaches nobody."""
        return not any(person.linked for person in self.focal_points)


async def of_agreement(
    db: Database, actor: Actor, agreement_id: int
) -> tuple[Agreement, list[PartyFocalPoints]]:
    """The agreement (NotFound unless the actor may see it) and each of its parties'
    focal points; candidates only for the parties the actor may name them for."""
    agreement, parties = await get_agreement(db, actor, agreement_id)
    org_ids = [agreement.lead_organization_id, *parties]
    async with db.read() as session:
        names: dict[int, str] = dict(
            (
                await session.execute(
                    select(Organization.id, Organization.name).where(
                        col(Organization.id).in_(org_ids)
                    )
                )
            ).all()
        )
        focal = await named(session, org_ids)
        allowed = [o for o in org_ids if policy.names_focal_points(actor, o)]
        users = await candidates(session, allowed)
    lines = [
        PartyFocalPoints(
            org,
            names.get(org, str(org)),
            org == agreement.lead_organization_id,
            focal.get(org, []),
            users.get(org, []),
        )
        for org in dict.fromkeys(org_ids)
    ]
    return agreement, lines
