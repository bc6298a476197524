"""Handing hits durably to the queue, in batches: group commit.

Every request appends its hit to the open batch and waits for that batch to be
flushed; one flusher writes a whole batch in one go while the next batch fills
up. Under load many hits share one write (one Dramatiq message on Redis, or one
fsynced spool line in the embedded mode); when idle a lone hit is flushed at
once, so waiting costs about one round trip, never a timer.

- Distributed: one ``XADD`` of the batch to the Redis hit stream (one round trip
  per batch; see plugin.tracking.edge.hit_stream), on a client of the hand-off's own:
  one flusher, so one connection, never waiting behind the process's other Redis
  calls (the API's), nor adding a connection to their pool each time they overlap.
- Embedded: the batch is appended to the spool (fsync) and then given to the
  in-process consumer's queue; the spool forgets it once it is recorded.

Either way the consumer (plugin.tracking.pipeline.consumer) takes every batch waiting at
once, so hits that arrive one by one are still recorded hundreds at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dramatiq import Message
from redis.asyncio import Redis

from plugin.jobs import JobName
from plugin.observability.metrics import observe_handoff_batch
from plugin.runtime import process_slot
from plugin.settings import Settings
from plugin.tracking.edge.hit_stream import stream_key, stream_sink
from plugin.tracking.edge.local_source import LocalSource
from plugin.tracking.edge.spool import Spool

__all__ = [
    "RECORD_HITS",
    "GroupCommit",
    "Handoff",
    "HandoffClosedError",
    "current_handoff",
    "record_message",
    "start_handoff",
    "stop_handoff",
    "stream_handoff",
]

log = logging.getLogger(__name__)

RECORD_HITS = JobName("record_hits", queue="tracking")
MAX_BATCH = 1000

Sink = Callable[[list[dict[str, Any]]], Awaitable[None]]


class HandoffClosedError(RuntimeError):
    """The process is shutting down and takes no more hits."""


class GroupCommit:
    """Batches concurrent submissions; each ``submit`` returns once its batch is durable."""

    def __init__(self, sink: Sink, *, max_batch: int = MAX_BATCH) -> None:
        self._sink = sink
        self._max_batch = max_batch
        self._open: list[dict[str, Any]] = []
        self._open_future: asyncio.Future[None] | None = None
        self._ready: deque[tuple[list[dict[str, Any]], asyncio.Future[None]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.hits = 0

    async def submit(self, hit: dict[str, Any]) -> None:
        """Add ``hit`` to the open batch and wait until that batch is handed on.

        Raises whatever the sink raised for the batch (the hit is then not queued).
        """
        if self._closed:
            raise HandoffClosedError("the tracking hand-off is closed")
        future = self._open_future
        if future is None:
            future = self._open_future = asyncio.get_running_loop().create_future()
        self._open.append(hit)
        if len(self._open) >= self._max_batch:
            self._seal()
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_all())
        # Shielded: a client that goes away must not cancel its batch-mates' future.
        await asyncio.shield(future)

    def _seal(self) -> None:
        if self._open and self._open_future is not None:
            self._ready.append((self._open, self._open_future))
        self._open, self._open_future = [], None

    async def _flush_all(self) -> None:
        try:
            while True:
                if not self._ready:
                    self._seal()
                if not self._ready:
                    return
                batch, future = self._ready.popleft()
                started = time.perf_counter()
                try:
                    await self._sink(batch)
                except BaseException as exc:  # every waiter of the batch learns of it
                    if not future.done():
                        future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    log.error("handing %d tracking hit(s) to the queue failed: %r", len(batch), exc)
                else:
                    observe_handoff_batch(len(batch), time.perf_counter() - started)
                    self.batches += 1
                    self.hits += len(batch)
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flusher = None

    async def close(self) -> None:
        """Take no more hits and wait until every submitted one is flushed."""
        self._closed = True
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._open:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_all())
            await self._flusher


def record_message(batch: list[dict[str, Any]]) -> Message[Any]:
    """A Dramatiq message recording ``batch`` (releases before the hit stream queued these;
    ``workers.actors.record`` still drains them)."""
    return Message(
        queue_name=RECORD_HITS.queue,
        actor_name=RECORD_HITS.name,
        args=(batch, None),
        kwargs={},
        options={},
    )


def _spool_sink(spool: Spool, local: LocalSource) -> Sink:
    async def sink(batch: list[dict[str, Any]]) -> None:
        # On the loop, not in a thread: an append + fsync takes ~0.1 ms, while a thread
        # hop waits for the GIL held by the embedded workers (up to 5 ms each way).
        local.put(spool.append(batch), batch)

    return sink


@dataclass
class Handoff:
    """One process's hand-off and what it holds (closed by :func:`stop_handoff`)."""

    group: GroupCommit
    spool: Spool | None = None  # embedded: the durable spool ...
    local: LocalSource | None = None  # ... and the in-process consumer's queue
    redis: Redis | None = None  # distributed: the hand-off's own client


def current_handoff() -> GroupCommit | None:
    """The hand-off of this process's started runtime, or None before start / after stop
    (the routes read it from the slot they were given)."""
    runtime = process_slot().runtime
    return runtime.handoff.group if runtime is not None and runtime.handoff else None


def start_handoff(settings: Settings) -> Handoff:
    """Start a hand-off: the Redis hit stream, or spool + memory queue embedded."""
    if settings.embedded:
        spool = Spool(settings.data_dir / "spool")
        local = LocalSource(spool)
        replayed = 0
        for receipt, batch in spool.recover():
            local.put(receipt, batch)
            replayed += len(batch)
        if replayed:
            log.info("re-queued %d tracking hit(s) spooled by an earlier run", replayed)
        return Handoff(GroupCommit(_spool_sink(spool, local)), spool=spool, local=local)
    assert settings.redis_url is not None
    group, client = stream_handoff(settings.redis_url, stream_key(settings))
    return Handoff(group, redis=client)


def stream_handoff(redis_url: str, key: str) -> tuple[GroupCommit, Redis]:
    """The distributed hand-off to the stream ``key``, on a Redis client of its own (the
    caller closes both)."""
    client = Redis.from_url(redis_url)
    return GroupCommit(stream_sink(client, key)), client


async def stop_handoff(handoff: Handoff) -> None:
    """Flush what is buffered and stop taking hits."""
    await handoff.group.close()
    if handoff.spool is not None:
        handoff.spool.close()
    if handoff.redis is not None:
        await handoff.redis.aclose()
