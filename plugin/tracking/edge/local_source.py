"""The embedded mode's source of hits: spooled batches waiting in this process's memory.

The hand-off (plugin.tracking.edge.handoff) puts each spooled batch here; the hit
consumer (plugin.tracking.pipeline.consumer) fetches them, records them and acknowledges
them, which lets the spool forget them. The distributed mode's source is
plugin.tracking.edge.hit_stream.StreamSource.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from typing import Any

from plugin.tracking.edge.hit_stream import Delivery
from plugin.tracking.edge.spool import Receipt, Spool

__all__ = ["GATHER_SECONDS", "LocalSource"]

# Embedded: under a steady stream, batches are taken at most this often. Measured
# (bench/bench_embedded_cpu.py): a recorded batch costs the one core of `serve` several
# ms whatever its size (statements, thread hops, the bell's transaction), so batches of
# ~20 hits at 800 opens/s spent more CPU per open than the hits themselves. A hit that
# arrives after a quiet spell is still taken at once; one in a stream waits at most this.
GATHER_SECONDS = 0.1


class LocalSource:
    """Spooled batches waiting in memory for the in-process consumer (embedded mode).

    ``put`` is called from the serving loop, ``fetch`` runs on the worker loop. Batches
    are handed out at most every ``gather_seconds`` while hits keep coming (the first
    after a quiet spell at once), so a stream is recorded in batches of a useful size.
    """

    def __init__(self, spool: Spool, *, gather_seconds: float = GATHER_SECONDS) -> None:
        self.spool = spool
        self.gather_seconds = gather_seconds
        self._last_fetch = float("-inf")
        self._count = 0  # hits in _items
        self._items: deque[tuple[Receipt, list[dict[str, Any]]]] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None

    def put(self, receipt: Receipt, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self._items.append((receipt, batch))
            self._count += len(batch)
            loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not wakeup.is_set():
            # A closed worker loop (shutting down) raises: the batch stays spooled.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wakeup.set)

    def waiting(self) -> int:
        with self._lock:
            return self._count

    async def fetch(self, max_hits: int, block_ms: int) -> Delivery | None:
        if self._wakeup is None:
            with self._lock:
                self._loop = asyncio.get_running_loop()
                self._wakeup = asyncio.Event()
        wakeup = self._wakeup
        if not self._items:
            wakeup.clear()
            if not self._items:  # re-checked after clear: a put in between is not missed
                try:
                    await asyncio.wait_for(wakeup.wait(), block_ms / 1000)
                except TimeoutError:
                    return None
        gathered = time.monotonic() - self._last_fetch
        if gathered < self.gather_seconds and self._count < max_hits:
            await asyncio.sleep(self.gather_seconds - gathered)
        delivery = Delivery(hits=[])
        with self._lock:
            while self._items and (not delivery.hits or len(delivery.hits) < max_hits):
                receipt, batch = self._items.popleft()
                self._count -= len(batch)
                delivery.receipts.append(receipt)
                delivery.hits.extend(batch)
        self._last_fetch = time.monotonic()
        return delivery if delivery.receipts else None

    async def ack(self, delivery: Delivery) -> None:
        for receipt in delivery.receipts:
            self.spool.done(receipt)
        self.spool.compact()

    async def release(self, delivery: Delivery) -> None:
        """Nothing to do: unrecorded batches stay in the spool and are replayed at start."""

    def maintain(self) -> None:
        self.spool.compact()
