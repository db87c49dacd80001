"""A short-lived, bounded, in-process cache for dashboard tallies.

Period tallies scan every task of every campaign in the period (about a million rows at
province scale): seconds, not milliseconds. Leadership dashboards do not need second-by-second
numbers, so a tally is kept for TTL seconds per (who may see what, period) and the page says
when it was counted. Campaign status pages are never cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from coordinator.auth import policy
from coordinator.auth.scope import Actor

T = TypeVar("T")
TTL = 60.0
MAX_ENTRIES = 256


class TtlCache:
    def __init__(self, ttl: float = TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> tuple[T, float]:
        """(value, when it was computed, as a time.time() stamp)."""
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            self._items.move_to_end(key)
            return hit[1]
        value = (await compute(), time.time())
        self._items[key] = (now + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


def audience_key(actor: Actor) -> Hashable:
    """Actors who see the same tallies share an entry: admins and leadership see everything;
    coordinators and leads see by their organization."""
    return policy.tally_audience(actor)


TALLIES = TtlCache()
# Status pages poll every 3 s, often several people on the same campaign: 2 s keeps them live.
PROGRESS = TtlCache(ttl=2.0)
