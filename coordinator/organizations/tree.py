"""Walks of the organization tree (recursive CTEs, the same SQL on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.organizations.models import Organization


async def subtree_ids(session: AsyncSession, roots: Iterable[int]) -> set[int]:
    """The given organizations and every organization below them."""
    roots = list(roots)
    if not roots:
        return set()
    tree = select(Organization.id).where(col(Organization.id).in_(roots)).cte(recursive=True)
    tree = tree.union_all(select(Organization.id).where(Organization.parent_id == tree.c.id))
    return set((await session.scalars(select(tree.c.id))).all())


async def ancestor_ids(session: AsyncSession, org_id: int) -> set[int]:
    """The organization's ancestors, not the organization itself."""
    chain = (
        select(Organization.id, Organization.parent_id)
        .where(Organization.id == org_id)
        .cte(recursive=True)
    )
    chain = chain.union_all(
        select(Organization.id, Organization.parent_id).where(Organization.id == chain.c.parent_id)
    )
    return set((await session.scalars(select(chain.c.id))).all()) - {org_id}
