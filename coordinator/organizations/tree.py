"""Walks of the organization tree: in the database (recursive CTEs, the same SQL on SQLite and
PostgreSQL) and in memory (`tree_lines`, the one walk every tree view and roll-up uses)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TreeLine:
    """One organization's place in the tree: how deep, under which parent, which children."""

    id: int
    depth: int
    parent_id: int | None
    children: tuple[int, ...]


def tree_lines(nodes: Iterable[tuple[int, int | None]]) -> list[TreeLine]:
    """(id, parent id) pairs in tree order: every organization right after its parent and before
    its next sibling, siblings in the order given (sort the input by name for a by-name tree).
    A parent that is not among `nodes` makes its child a root, so a part of the tree (a lead's
    reach) walks as a forest. Walk it backwards to sum subtrees: children come before parents."""
    nodes = list(nodes)
    known = {node_id for node_id, _ in nodes}
    children: dict[int | None, list[int]] = {}
    for node_id, parent in nodes:
        children.setdefault(parent if parent in known else None, []).append(node_id)
    lines: list[TreeLine] = []
    stack: list[tuple[int, int | None, int]] = [
        (n, None, 0) for n in reversed(children.get(None, []))
    ]
    while stack:
        node_id, parent, depth = stack.pop()
        below = children.get(node_id, [])
        lines.append(TreeLine(node_id, depth, parent, tuple(below)))
        stack.extend((child, node_id, depth + 1) for child in reversed(below))
    return lines
