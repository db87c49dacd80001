"""The collector settings a started process takes on (`coordinator.heap.settle`)."""

from __future__ import annotations

import gc
import weakref

from coordinator import heap


class Node:
    other: Node | None = None


def test_settle_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    try:
        kept = [object() for _ in range(10)]
        heap.settle()
        assert gc.isenabled()
        assert gc.get_threshold()[0] == heap.YOUNG
        assert gc.get_freeze_count() >= len(kept)  # start-up objects are out of every pass
        cycle = Node()  # made after start-up: an unreachable cycle is still collected
        cycle.other = cycle
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
