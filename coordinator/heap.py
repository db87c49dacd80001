"""The garbage collector set for a long-lived process once it has started.

Measured with `bench.delivery` (limits off, 5,000 messages): CPython's default collector took
0.73 s of a 3.8 s send, 0.53 s of it in four full collections, each walking the ~190,000
objects that start-up leaves behind (SQLAlchemy, Litestar, python-telegram-bot, our modules)
and that live as long as the process. Frozen, they are never walked again; and with a larger
young generation, the few dozen short-lived objects each message makes are collected in fewer,
larger passes (docs/benchmarks.md, 2026-12-02).
"""

from __future__ import annotations

import gc

# Allocations (less deallocations) between young collections; CPython's default is 700.
YOUNG = 20_000


def settle() -> None:
    """Call once start-up is over: what exists now is kept out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG)
