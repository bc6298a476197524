"""The consumer side of the hit pipeline: take what is waiting, record it as one batch.

A ``HitConsumer`` loops: fetch every hit waiting (up to ``max_hits``; it waits
for the first, so a lone hit goes at once and a backlog goes hundreds at a
time), record them (``ingest_hits``: one transaction, one notification
message), then acknowledge them. Failures (the database or Redis down) are
retried with backoff on the *same* batch, which is never acknowledged before
it is committed; recording is idempotent, so a batch recorded but not
acknowledged is simply recorded again later without counting twice.

Sources (both in plugin.tracking.edge, beside the hand-off that fills them):
``hit_stream.StreamSource`` (Redis Stream, distributed) and ``local_source.LocalSource``
(spooled batches in this process's memory, embedded).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from plugin.observability.metrics import observe_ingest, observe_queue_lag
from plugin.tracking.edge.hit_stream import Delivery
from plugin.tracking.edge.local_source import LocalSource

__all__ = ["HitConsumer", "HitSource", "LocalSource"]  # LocalSource: re-exported

log = logging.getLogger("mailbeacon.pipeline")

MAX_HITS = 1000  # per recorded batch: one transaction of a few hundred ms at most
_BLOCK_MS = 1000  # a fetch returns at least this often (stop requests, spool upkeep)
_FIRST_BACKOFF = 0.2
_MAX_BACKOFF = 10.0

Ingest = Callable[[Sequence[Any]], Coroutine[Any, Any, Any]]


class HitSource(Protocol):
    async def fetch(self, max_hits: int, block_ms: int) -> Delivery | None: ...

    async def ack(self, delivery: Delivery) -> None: ...

    async def release(self, delivery: Delivery) -> None: ...

    def maintain(self) -> None: ...


class HitConsumer:
    """Fetch, record, acknowledge, forever; backs off while storage or the queue is down."""

    def __init__(self, source: HitSource, ingest: Ingest, *, max_hits: int = MAX_HITS) -> None:
        self.source = source
        self.ingest = ingest
        self.max_hits = max_hits
        self.block_ms = _BLOCK_MS
        self._stopping = False
        self._context = contextvars.copy_context()
        self.batches = 0
        self.hits = 0

    def stop(self) -> None:
        """Finish the batch in hand (record and acknowledge it), then return from ``run``."""
        self._stopping = True

    async def run(self) -> None:
        # Each batch is recorded in a task of its own, on a fresh copy of this context:
        # a transaction left behind by a dropped connection (the ORM keeps the current
        # one in a context variable) must not follow the consumer to its next batch, as
        # it cannot in an actor (a new task per message).
        self._context = contextvars.copy_context()
        delivery: Delivery | None = None
        recorded = False
        backoff = _FIRST_BACKOFF
        while not self._stopping or (delivery is not None and backoff <= _FIRST_BACKOFF):
            try:
                if delivery is None:
                    self.source.maintain()
                    recorded = False
                    delivery = await self.source.fetch(self.max_hits, self.block_ms)
                    if delivery is None:
                        continue
                if not recorded:
                    await self._record(delivery)
                    recorded = True
                await self.source.ack(delivery)
                self.batches += 1
                self.hits += len(delivery.hits)
                delivery, backoff = None, _FIRST_BACKOFF
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage or queue down: wait, then try the same batch again
                log.warning(
                    "recording tracking hits failed (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                await self._pause(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
        if delivery is not None and not recorded:
            try:
                await self.source.release(delivery)
            except Exception as exc:  # they stay pending and are claimed after CLAIM_IDLE_MS
                log.warning("returning %d unrecorded hit(s) failed: %s", len(delivery.hits), exc)

    async def _record(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        times = [hit["t"] for hit in delivery.hits if isinstance(hit, dict) and "t" in hit]
        oldest = min((t for t in times if isinstance(t, int | float)), default=None)
        if oldest is not None:
            observe_queue_lag(time.time() - oldest)
        loop = asyncio.get_running_loop()
        await loop.create_task(self.ingest(delivery.hits), context=self._context.copy())
        seconds = time.perf_counter() - started
        observe_ingest(seconds, len(delivery.hits))
        # One line per batch; counts only (no address, token or recipient).
        log.info(
            "recorded a batch of %d hit(s) in %.0f ms%s",
            len(delivery.hits),
            seconds * 1000,
            " (taken over from a stopped consumer)" if delivery.claimed else "",
        )

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, deadline - time.monotonic()))
