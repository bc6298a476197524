"""Enqueue Dramatiq messages on Redis from the event loop, without a thread.

Dramatiq's RedisBroker enqueues with redis-py's blocking client. The edge calls
it once per batch, but from a thread, and a thread hop on a loop that keeps one
core busy waits for the GIL (up to the 5 ms switch interval) on every flush,
which caps a server at about 64 hits per 6 ms. This runs the broker's own Lua
``dispatch`` script, with the broker's own arguments and middleware hooks,
through redis-py's asyncio client instead. It reads a few of the broker's
attributes; if a Dramatiq release changes them, ``async_enqueuer`` returns None
and the caller falls back to ``broker.enqueue`` in a thread.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from redis.asyncio import Redis

__all__ = ["AsyncRedisEnqueuer", "async_enqueuer"]

log = logging.getLogger(__name__)


class AsyncRedisEnqueuer:
    """``await enqueuer.enqueue(message)``: what ``RedisBroker.enqueue`` does, on the loop."""

    def __init__(self, broker: RedisBroker, redis: Redis) -> None:
        self.broker = broker
        self.script = redis.register_script(broker.scripts["dispatch"].script)
        # Computed once, with the blocking client (it may ask Redis), at start-up.
        self.max_unpack = broker._max_unpack_size()

    async def enqueue(self, message: Message[Any]) -> Message[Any]:
        broker = self.broker
        message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        broker.emit_before("enqueue", message, None)
        await self.script(
            keys=[broker.namespace],
            args=[
                "enqueue",
                current_millis(),
                message.queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                broker._should_do_maintenance("enqueue"),
                self.max_unpack,
                message.options["redis_message_id"],
                message.encode(),
            ],
        )
        broker.emit_after("enqueue", message, None)
        return message


def async_enqueuer(broker: Any, redis: Redis | None) -> AsyncRedisEnqueuer | None:
    """An async enqueuer for ``broker``, or None when it cannot be built safely."""
    if redis is None or not isinstance(broker, RedisBroker):
        return None
    try:
        return AsyncRedisEnqueuer(broker, redis)
    except (AttributeError, KeyError, TypeError):
        log.warning("Dramatiq's RedisBroker changed: enqueueing tracking batches from a thread")
        return None
