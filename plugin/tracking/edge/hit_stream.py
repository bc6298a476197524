"""The distributed mode's hit queue: a Redis Stream read by a consumer group.

Why a stream and not Dramatiq messages: hits arrive one by one all day, and a
Dramatiq actor takes one message at a time, so a lone hit cost a whole
transaction and notification round (~100 counted opens/s). A consumer of a
stream takes *everything waiting* in one read (``XREADGROUP COUNT n BLOCK t``):
one hit when idle (the read wakes at once), hundreds under load, one
transaction either way. Entries stay in the group's pending list until the
batch is committed (``XACK`` + ``XDEL`` then), so a worker killed mid-batch
loses nothing: any consumer takes entries idle for ``CLAIM_IDLE_MS`` over
(``XAUTOCLAIM``). Dramatiq keeps the jobs it suits (sending, notifications,
held clicks, periodic work).

Each entry is one group-commit batch from the edge (field ``b``: a JSON list of
wire hits), so a flood costs one ``XADD`` per batch, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from plugin.settings import Settings

__all__ = [
    "CLAIM_IDLE_MS",
    "GATHER_SECONDS",
    "GROUP",
    "Delivery",
    "StreamSource",
    "consumer_name",
    "stream_key",
    "stream_sink",
]

log = logging.getLogger(__name__)

GROUP = "ingest"
# A consumer's unacknowledged entries this idle are taken over by another (a dead worker).
# Well above the longest batch (seconds), well below the one minute promised.
CLAIM_IDLE_MS = 30_000
_CLAIM_EVERY_SECONDS = 10.0
_MAX_ENTRIES = 500
# Under a steady stream, batches are read at most this often (as the embedded consumer
# does, plugin.tracking.edge.local_source.GATHER_SECONDS): a recorded batch costs the worker
# several ms whatever its size (its statements, the bell's message and transaction, the
# live publish), so at a few thousand opens/s batches of a few dozen hits spent more of
# the core than the hits. A hit after a quiet spell is still read at once, and a read
# that found a full batch is followed by the next at once.
GATHER_SECONDS = 0.1


def stream_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:hits"


def consumer_name() -> str:
    """Unique per process: a restarted worker is a new consumer; the old one's entries
    are claimed from it like any dead consumer's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def stream_sink(redis: Redis, key: str) -> Any:
    """The edge's sink: one ``XADD`` per group-commit batch."""

    async def sink(batch: list[dict[str, Any]]) -> None:
        await redis.xadd(key, {"b": json.dumps(batch, separators=(",", ":"))})

    return sink


@dataclass
class Delivery:
    """Hits taken from a queue together, and what acknowledges them."""

    hits: list[dict[str, Any]]
    receipts: list[Any] = field(default_factory=list)
    claimed: bool = False  # taken over from another consumer


def _decode(entries: list[Any], delivery: Delivery) -> None:
    for entry_id, fields in entries:
        delivery.receipts.append(entry_id)
        raw = fields.get(b"b") if fields else None
        try:
            batch = json.loads(raw) if raw is not None else []
        except ValueError:
            batch = []
        if isinstance(batch, list):
            delivery.hits.extend(batch)
        else:
            log.warning("ignoring a malformed hit entry %r", entry_id)


class StreamSource:
    """One consumer of the ``ingest`` group: fetch, acknowledge, take over the dead's work."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self.redis = redis
        self.key = key
        self.consumer = consumer or consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.gather_seconds = gather_seconds
        self._last_read = float("-inf")  # when the last read that found hits returned
        self._last_full = False  # whether it found a full batch (a backlog: read on)
        self._entries = 50  # entries per read, adapted to the hits an entry carries
        self._claim_cursor = "0-0"
        self._claim_due = 0.0  # at start: take over at once what a dead worker left
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the group (and the stream); from id 0, so hits queued before it count."""
        try:
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def fetch(self, max_hits: int, block_ms: int) -> Delivery | None:
        """The next hits (up to about ``max_hits``), waiting up to ``block_ms`` for the first."""
        if not self._group_ready:
            await self.ensure_group()
        try:
            claimed = await self._claim_idle(max_hits)
            if claimed is not None:
                return claimed
            since = time.monotonic() - self._last_read
            if since < self.gather_seconds and not self._last_full:
                await asyncio.sleep(self.gather_seconds - since)
            reply: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {self.key: ">"}, count=self._entries, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis lost its data (restarted without persistence)
                self._group_ready = False
                log.warning("the hit stream's consumer group was gone: creating it again")
            raise
        if not reply:
            return None
        delivery = Delivery(hits=[])
        for _stream, entries in reply:
            _decode(entries, delivery)
        self._last_full = len(delivery.receipts) >= self._entries
        self._last_read = time.monotonic()
        self._adapt(len(delivery.receipts), len(delivery.hits), max_hits)
        return delivery

    def _adapt(self, entries: int, hits: int, max_hits: int) -> None:
        per_entry = max(1.0, hits / max(1, entries))
        self._entries = max(1, min(_MAX_ENTRIES, int(max_hits / per_entry)))

    async def _claim_idle(self, max_hits: int) -> Delivery | None:
        now = time.monotonic()
        if now < self._claim_due:
            return None
        reply: Any = await self.redis.xautoclaim(
            self.key,
            GROUP,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self._entries,
        )
        cursor, entries = reply[0], reply[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor == "0-0":  # the whole pending list was looked at
            self._claim_due = now + _CLAIM_EVERY_SECONDS
        if not entries:
            return None
        delivery = Delivery(hits=[], claimed=True)
        _decode(entries, delivery)
        log.warning("took over %d unacknowledged hit entries of a stopped consumer", len(entries))
        return delivery

    async def ack(self, delivery: Delivery) -> None:
        """The batch is committed: forget its entries (acknowledged and deleted at once)."""
        if not delivery.receipts:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.key, GROUP, *delivery.receipts)
            pipe.xdel(self.key, *delivery.receipts)
            await pipe.execute()

    async def release(self, delivery: Delivery) -> None:
        """Give unrecorded entries back at shutdown: marked idle, any consumer takes them now."""
        if not delivery.receipts:
            return
        await self.redis.xclaim(
            self.key,
            GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=delivery.receipts,
            idle=self.claim_idle_ms,
            justid=True,
        )

    async def retire(self) -> None:
        """Leave the group when nothing is pending on this consumer (clean shutdown)."""
        info = await self.redis.xpending_range(self.key, GROUP, "-", "+", 1, self.consumer)
        if not info:
            await self.redis.xgroup_delconsumer(self.key, GROUP, self.consumer)

    def maintain(self) -> None:
        """Nothing to do between reads (the stream needs no housekeeping of ours)."""

    async def backlog(self) -> dict[str, int]:
        """Entries waiting in the stream and entries read but not yet acknowledged."""
        groups = await self.redis.xinfo_groups(self.key)
        for group in groups:
            name = group.get("name")
            if name in (GROUP, GROUP.encode()):
                return {"lag": int(group.get("lag") or 0), "pending": int(group.get("pending", 0))}
        return {"lag": int(await self.redis.xlen(self.key)), "pending": 0}
