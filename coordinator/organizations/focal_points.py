"""Focal points: the users who receive an organization's campaigns (delivery through
organizations). An organization none of whose focal points is linked in Telegram is shown."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.organizations.models import FocalPoint


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
