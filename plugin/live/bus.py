"""Per-user live channels: publish after commit from anywhere, subscribe in the serving process.

Embedded mode: publishing hands the message straight to this process's ``Hub``
(the embedded Dramatiq workers run in this process, on their own threads).
Distributed mode: publishing goes to Redis (``{redis_prefix}:live:user:{id}``;
channels ignore Redis DB numbers, hence the prefix) and each ``serve`` process
receives it through its one multiplexed subscription.

Messages are JSON-compatible dicts with a ``type`` (``event`` or
``notification``), identical in both modes. Publishing never raises and never
blocks on a slow subscriber: live delivery is best-effort, the database is the
record.

One publish call sends one Redis message per user channel: a user's single
message as it is, several (a recorded batch's events, a bell batch's
notifications) as ``{"type": "batch", "messages": [...]}``, which the fan-in
unpacks in order, so subscribers see exactly the messages of the embedded mode.
Parsing and delivery cost per Redis message, not per event, on the serve side.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from plugin.live.hub import DEFAULT_QUEUE_SIZE, Hub, LiveSubscription
from plugin.live.redis_bus import RedisFanIn, RedisPublisher, encode_messages
from plugin.runtime import process_slot
from plugin.settings import Settings

__all__ = [
    "LiveBus",
    "Message",
    "channel_name",
    "close_publishers",
    "current_bus",
    "publish",
    "start_live",
    "stop_live",
]

log = logging.getLogger("mailbeacon.live")

Message = dict[str, Any]

_publishers: dict[str, RedisPublisher] = {}
_publishers_lock = threading.Lock()


def channel_name(settings: Settings, user_id: int) -> str:
    """The Redis channel of one user's live messages, in this deployment's namespace."""
    return f"{settings.redis_prefix}:live:user:{user_id}"


class LiveBus:
    """This process's subscriber side: the local hub and, when distributed, the Redis fan-in."""

    def __init__(self, settings: Settings, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.settings = settings
        self.hub = Hub(queue_size=queue_size)
        self.fanin: RedisFanIn | None = None
        if settings.redis_url:
            self.fanin = RedisFanIn(
                settings.redis_url,
                hub=self.hub,
                channel_of=lambda user_id: channel_name(settings, user_id),
                control_channel=f"{settings.redis_prefix}:live:control",
            )

    async def start(self) -> None:
        if self.fanin is not None:
            await self.fanin.start()

    async def stop(self) -> None:
        if self.fanin is not None:
            await self.fanin.stop()

    @asynccontextmanager
    async def subscribe(
        self, user_id: int, types: frozenset[str] | None = None
    ) -> AsyncIterator[LiveSubscription]:
        """Listen to ``user_id``'s channel (messages of ``types``, default all) until the
        block exits (cancellation included)."""
        subscription = self.hub.add(user_id, types)
        try:
            if self.fanin is not None:
                await self.fanin.watch(user_id)
            try:
                yield subscription
            finally:
                if self.fanin is not None:
                    await asyncio.shield(self.fanin.unwatch(user_id))
        finally:
            self.hub.remove(subscription)

    def subscriber_count(self, user_id: int | None = None) -> int:
        return self.hub.subscriber_count(user_id)


async def start_live(settings: Settings, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> LiveBus:
    """Start a live bus (the composition root keeps it on the runtime: ``runtime.live``)."""
    bus = LiveBus(settings, queue_size=queue_size)
    await bus.start()
    return bus


async def stop_live(bus: LiveBus) -> None:
    await bus.stop()
    close_publishers()


def _started_bus() -> LiveBus | None:
    runtime = process_slot().runtime
    return runtime.live if runtime is not None else None


def current_bus() -> LiveBus:
    """The live bus of this process's started runtime."""
    bus = _started_bus()
    if bus is None:
        raise RuntimeError("the live bus is not started in this process")
    return bus


def _publisher(url: str) -> RedisPublisher:
    with _publishers_lock:
        publisher = _publishers.get(url)
        if publisher is None:
            publisher = _publishers[url] = RedisPublisher(url)
        return publisher


def close_publishers() -> None:
    with _publishers_lock:
        publishers = list(_publishers.values())
        _publishers.clear()
    for publisher in publishers:
        publisher.close()


async def publish(settings: Settings, items: Sequence[tuple[int, Message]]) -> None:
    """Publish ``(user_id, message)`` pairs; call only after the data they describe is committed."""
    if not items:
        return
    per_user = _by_user(items)
    if settings.redis_url is None:
        bus = _started_bus()
        if bus is None:
            log.debug("live: no bus in this process; %d message(s) not delivered", len(items))
            return
        for user_id, messages in per_user.items():
            bus.hub.deliver_many(user_id, messages)
        return
    encoded = [
        (channel_name(settings, user_id), encode_messages(messages))
        for user_id, messages in per_user.items()
    ]
    try:
        await _publisher(settings.redis_url).publish(encoded)
    except Exception as exc:  # best-effort: the records are committed, the pipeline goes on
        log.warning("live: publishing %d message(s) failed: %s", len(items), exc)


def _by_user(items: Sequence[tuple[int, Message]]) -> dict[int, list[Message]]:
    """Each user's messages, in the order they were given."""
    per_user: dict[int, list[Message]] = {}
    for user_id, message in items:
        per_user.setdefault(user_id, []).append(message)
    return per_user
