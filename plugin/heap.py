"""Keeping the garbage collector off the start-up heap of a long-running process.

The schema, the ORM's models, the imported modules and the runtime's caches are
built once and never become garbage, yet every full collection walks them all.
Under load a process allocates fast enough to run a full pass every few seconds:
before this, the collector took ~40 ms of serve's p99 and about 15 % of the
worker's CPU per recorded hit (bench/README.md, "CPU per hit"). Freezing moves
what exists at start-up out of the collector's sight; what is allocated later is
collected as usual.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap", "thaw_startup_heap"]


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()


def thaw_startup_heap() -> None:
    """Undo ``freeze_startup_heap`` (a process that starts its app again, as tests do)."""
    gc.unfreeze()
