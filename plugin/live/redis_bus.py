"""Redis publish/subscribe for the distributed mode: one subscription per process, one publisher.

``RedisFanIn`` holds the process's single pub/sub connection. It subscribes to a
user's channel while at least one local subscriber listens to that user, and
hands every message to the local ``Hub``. When Redis goes away it reconnects
with exponential backoff and subscribes again to every channel still wanted.
Redis pub/sub is fire-and-forget: what is published while the connection is
down is not replayed (the events themselves are in the database).

``RedisPublisher`` publishes from any loop (Dramatiq workers, the app): a
synchronous client driven by one thread of its own.

Payloads: one user's single message is its JSON object; several published
together travel as one ``{"type": "batch", "messages": [...]}`` (one PUBLISH, one
parse, one hub hand-over), which ``RedisFanIn`` unpacks in order. A process of an
earlier version ignores a batch payload (no subscription knows its type).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from plugin.live.hub import Hub

__all__ = ["BATCH", "RedisFanIn", "RedisPublisher", "decode_messages", "encode_messages"]

log = logging.getLogger("mailbeacon.live")

_MIN_BACKOFF = 0.1
_MAX_BACKOFF = 5.0
# How long a new subscriber waits for Redis to confirm its channel before going on anyway.
_CONFIRM_TIMEOUT = 5.0
_REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
# The ``type`` of a payload that carries several messages of one user.
BATCH = "batch"

Message = dict[str, Any]


def encode_messages(messages: Sequence[Message]) -> str:
    """One payload for one user's messages, in order."""
    if len(messages) == 1:
        return json.dumps(messages[0])
    return json.dumps({"type": BATCH, "messages": list(messages)})


def decode_messages(data: bytes | str) -> list[Message]:
    """The messages of one payload (a single message or a batch); ValueError if malformed."""
    payload = json.loads(data)
    if not isinstance(payload, dict):
        raise ValueError("a live payload is a JSON object")
    if payload.get("type") != BATCH:
        return [payload]
    messages = payload.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("a batch payload carries a list of objects")
    return messages


class RedisFanIn:
    """The one Redis subscription of this process, multiplexed to local subscribers."""

    def __init__(
        self, url: str, *, hub: Hub, channel_of: Callable[[int], str], control_channel: str
    ) -> None:
        self._url = url
        self._hub = hub
        self._channel_of = channel_of
        self._control = control_channel
        self._prefix = channel_of(0).rsplit(":", 1)[0] + ":"
        self._counts: dict[str, int] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mailbeacon-live-redis")
        # Not fatal if Redis is late: the loop keeps trying and subscribers wait for it.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.connected.wait(), _CONFIRM_TIMEOUT)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def watch(self, user_id: int) -> None:
        """Make sure this process receives ``user_id``'s channel (reference counted)."""
        channel = self._channel_of(user_id)
        async with self._lock:
            self._counts[channel] = self._counts.get(channel, 0) + 1
            if self._counts[channel] == 1:
                self._confirmed[channel] = asyncio.Event()
                await self._send("subscribe", channel)
            confirmed = self._confirmed[channel]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(confirmed.wait(), _CONFIRM_TIMEOUT)

    async def unwatch(self, user_id: int) -> None:
        channel = self._channel_of(user_id)
        async with self._lock:
            count = self._counts.get(channel, 0) - 1
            if count > 0:
                self._counts[channel] = count
                return
            self._counts.pop(channel, None)
            self._confirmed.pop(channel, None)
            await self._send("unsubscribe", channel)

    async def _send(self, command: str, channel: str) -> None:
        # While disconnected the run loop subscribes to every wanted channel on reconnect.
        pubsub = self._pubsub
        if pubsub is None or not self.connected.is_set():
            return
        try:
            await getattr(pubsub, command)(channel)
        except _REDIS_ERRORS as exc:
            log.warning("live: %s %s failed (%s); reconnecting takes over", command, channel, exc)

    async def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while True:
            try:
                await self._connect()
                backoff = _MIN_BACKOFF
                await self._read()
            except asyncio.CancelledError:
                raise
            except _REDIS_ERRORS as exc:
                log.warning("live: Redis subscription lost (%s); retry in %.1fs", exc, backoff)
            except Exception:  # a bug must not end live delivery for the whole process
                log.exception("live: unexpected error in the Redis subscription loop")
            self.connected.clear()
            await self._close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            self.reconnects += 1

    async def _connect(self) -> None:
        self._client = Redis.from_url(
            self._url, socket_connect_timeout=5, socket_keepalive=True, health_check_interval=30
        )
        self._pubsub = self._client.pubsub()
        async with self._lock:
            for event in self._confirmed.values():
                event.clear()
            await self._pubsub.subscribe(self._control, *self._counts)
            self.connected.set()

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            kind = message["type"]
            if kind == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
            elif kind == "message" and channel.startswith(self._prefix):
                self._dispatch(channel, message["data"])

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            user_id = int(channel[len(self._prefix):])
            messages = decode_messages(data)
        except ValueError:
            log.warning("live: ignoring a malformed message on %s", channel)
            return
        self._hub.deliver_many(user_id, messages)

    async def _close(self) -> None:
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        if pubsub is not None:
            with contextlib.suppress(*_REDIS_ERRORS):
                await pubsub.aclose()
        if client is not None:
            with contextlib.suppress(*_REDIS_ERRORS):
                await client.aclose()


class RedisPublisher:
    """Publishes JSON messages on user channels, from one thread of its own.

    One thread, so one connection (opened at the first publish), and payloads leave
    in the order they were handed over. Through the loop's default executor instead,
    a busy worker's publishes ran on up to its six threads at once, each taking a
    connection of the client's unbounded pool: one more at each new peak, for good
    (2 -> 4 over a soak's first minutes, bench/README.md "Soak").
    """

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mb-live-publish")

    async def publish(self, items: Sequence[tuple[str, str]]) -> None:
        """``publish_many`` on the publisher's thread, awaited from any event loop."""
        await asyncio.wrap_future(self._thread.submit(self.publish_many, items))

    def publish_many(self, items: Sequence[tuple[str, str]]) -> None:
        """Publish ``(channel, json)`` pairs in one round trip (blocking)."""
        if len(items) == 1:
            self._client.publish(*items[0])
            return
        with self._client.pipeline(transaction=False) as pipe:
            for channel, data in items:
                pipe.publish(channel, data)
            pipe.execute()

    def close(self) -> None:
        self._thread.shutdown(wait=True)  # what was handed over still goes out
        self._client.close()
