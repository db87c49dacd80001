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
        started = [Node()]  # made during start-up: tracked by the collector until settled
        assert any(o is started for o in gc.get_objects())
        heap.settle()
        assert gc.isenabled()
        assert gc.get_threshold()[0] == heap.YOUNG
        assert not any(o is started for o in gc.get_objects())  # out of every later pass
        cycle = Node()  # made after start-up: an unreachable cycle is still collected
        cycle.other = cycle
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
