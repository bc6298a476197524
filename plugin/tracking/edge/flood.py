"""One client hammering one pixel or link: answered, counted, but not queued hit by hit.

A client is the full address plus the user agent (as for duplicates), so many
people behind one network stay many clients. Per server process, each client
may hand ``limit`` hits of one token to the queue per window (the duplicate
window); beyond that its hits are still answered as usual, and counted in
``mailbeacon_tracking_hits_total{outcome="repeat_not_stored"}``, but not queued:
within the window every one of them would have been stored as a repeat of the
hits already queued and counted nowhere, so the figures stay the same, and a
flood no longer puts thousands of rows ahead of everyone else's hits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FloodGuard"]

_MAX_CLIENTS = 50_000  # hard memory bound: about 25 MB of entries (measured ~480 B each)


class FloodGuard:
    """Fixed windows per (token, client address, user agent); not thread-safe (one loop)."""

    def __init__(
        self, limit: int, window_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._seen: dict[tuple[object, str, str], list[float]] = {}  # key -> [start, count]
        self._next_sweep = clock() + window_seconds

    def admit(self, target: object, address: str, user_agent: str) -> bool:
        """True if this hit goes to the queue; False for a repeat beyond the limit."""
        if self.limit <= 0:
            return True
        now = self.clock()
        key = (target, address, user_agent)
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.window:
            # Once a window, forget the clients whose window is over: without it, hits from
            # ever new clients (as mail opens are) filled the table up to _MAX_CLIENTS and
            # kept it there, ~25 MB per endpoint; with it, the table holds about two
            # windows' worth of clients. The cap stays for a flood of new clients within one.
            if now >= self._next_sweep or (entry is None and len(self._seen) >= _MAX_CLIENTS):
                self._forget_expired(now)
            self._seen[key] = [now, 1.0]
            return True
        entry[1] += 1
        return entry[1] <= self.limit

    def remembered(self) -> int:
        """How many (target, client) windows are held."""
        return len(self._seen)

    def _forget_expired(self, now: float) -> None:
        self._next_sweep = now + self.window
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window}
        if len(self._seen) >= _MAX_CLIENTS:  # all live: keep the newer half
            keep = list(self._seen.items())[len(self._seen) // 2 :]
            self._seen = dict(keep)
