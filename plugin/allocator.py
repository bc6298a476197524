"""glibc's malloc in the long-running processes: a fixed mmap threshold.

glibc serves a request of ``M_MMAP_THRESHOLD`` bytes or more (128 KiB at start)
with a mapping of its own, unmapped when freed. The threshold is dynamic, though:
freeing such a block raises it to that block's size (up to 32 MiB). From then on
a batch's transient buffers (a stream read of hundreds of hits, its JSON, the
statements' parameters: 100-300 KiB each) are carved from the heap of the thread
that asks, the worker's event loop thread, between small allocations that outlive
them. A freed buffer leaves a hole that only merges back when its neighbours go,
the next, slightly larger buffer extends the heap instead, and the holes stay
resident: `mailbeacon worker` grew by ~1 MiB a minute in the soak, all of it free
chunks of that one arena (bench/README.md, "Soak"). Setting the threshold turns
the adjustment off (mallopt(3)), so such buffers go back to the system when freed.

An operator's own ``MALLOC_MMAP_THRESHOLD_`` (or the ``glibc.malloc.mmap_threshold``
tunable) is left in force. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold", "glibc"]

MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def _operator_chose() -> bool:
    return "MALLOC_MMAP_THRESHOLD_" in os.environ or "glibc.malloc.mmap_threshold" in (
        os.environ.get("GLIBC_TUNABLES", "")
    )


def glibc() -> ctypes.CDLL | None:
    """This process's C library if it is glibc (musl's mallopt does nothing)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of ``threshold`` bytes or more with its own mapping, for the
    rest of the process (forked children included). True if glibc took it."""
    libc = glibc()
    if libc is None or _operator_chose():
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
