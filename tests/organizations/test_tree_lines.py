"""The one in-memory walk of the organization tree."""

from __future__ import annotations

from coordinator.organizations.tree import TreeLine, tree_lines


def test_it_puts_every_organization_after_its_parent_siblings_in_the_given_order():
    lines = tree_lines([(1, None), (3, 1), (2, 1), (4, 2), (5, None)])
    assert lines == [
        TreeLine(1, 0, None, (3, 2)),
        TreeLine(3, 1, 1, ()),
        TreeLine(2, 1, 1, (4,)),
        TreeLine(4, 2, 2, ()),
        TreeLine(5, 0, None, ()),
    ]


def test_it_walks_part_of_the_tree_as_a_forest():
    """A lead's reach: the parent above it is not among the nodes, so its top is a root."""
    lines = tree_lines([(2, 1), (4, 2), (6, 2)])
    assert [(line.id, line.depth, line.parent_id) for line in lines] == [
        (2, 0, None),
        (4, 1, 2),
        (6, 1, 2),
    ]


def test_walked_backwards_it_sums_subtrees():
    lines = tree_lines([(1, None), (2, 1), (3, 2), (4, 1)])
    own = {1: 1, 2: 10, 3: 100, 4: 1000}
    total = dict(own)
    for line in reversed(lines):
        if line.parent_id is not None:
            total[line.parent_id] += total[line.id]
    assert total == {1: 1111, 2: 110, 3: 100, 4: 1000}
