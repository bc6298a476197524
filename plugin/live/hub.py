"""Local subscribers of one process: bounded queues per subscriber, fed from any thread.

A ``Hub`` knows which subscriptions (one per live GraphQL operation) listen to
which user. ``deliver`` may be called from any thread (embedded Dramatiq worker
threads run their own event loop): each subscriber's queue is filled on the
loop that owns it. A full queue drops the message with a logged warning, so a
slow or dead subscriber never delays the publisher nor the other subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from plugin.observability.metrics import LIVE_SUBSCRIBERS

__all__ = ["DEFAULT_QUEUE_SIZE", "Hub", "LiveSubscription"]

log = logging.getLogger("mailbeacon.live")

# Enough for a burst of activity on a user's emails; a subscriber further behind is stuck.
DEFAULT_QUEUE_SIZE = 1000
# Log the first drop and then every Nth, not every message of a flood.
_DROP_LOG_EVERY = 100

Message = dict[str, Any]


class LiveSubscription:
    """One local listener of one user's channel."""

    def __init__(
        self,
        user_id: int,
        loop: asyncio.AbstractEventLoop,
        queue_size: int,
        types: frozenset[str] | None = None,
    ) -> None:
        self.user_id = user_id
        self.loop = loop
        # The message types this listener shows (None: all). The others never take a
        # place in its queue: a trackingEvents stream is not filled up with bell messages.
        self.types = types
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0

    def offer(self, message: Message) -> None:
        """Hand over a message from any thread, never blocking."""
        self.offer_many((message,))

    def offer_many(self, messages: Sequence[Message]) -> None:
        """Hand over messages in order from any thread (one loop wake-up), never blocking."""
        if self.types is not None:
            messages = [m for m in messages if m.get("type") in self.types]
            if not messages:
                return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._put_many(messages)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._put_many, messages)

    def _put_many(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self._put(message)

    def _put(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % _DROP_LOG_EVERY == 1:
                log.warning(
                    "live subscriber of user %s is too slow: dropped %d message(s) so far "
                    "(queue of %d full)",
                    self.user_id, self.dropped, self.queue.maxsize,
                )

    async def get(self) -> Message:
        return await self.queue.get()

    async def get_ready(self) -> list[Message]:
        """The next message and every one already queued behind it, in order."""
        messages = [await self.queue.get()]
        while not self.queue.empty():
            messages.append(self.queue.get_nowait())
        return messages


class Hub:
    """Subscriptions per user. Thread-safe: delivery may come from worker threads."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscriptions: dict[int, set[LiveSubscription]] = {}
        self._lock = threading.Lock()

    def add(self, user_id: int, types: frozenset[str] | None = None) -> LiveSubscription:
        """A new subscription (of these message types only) whose queue is the running loop's."""
        subscription = LiveSubscription(
            user_id, asyncio.get_running_loop(), self.queue_size, types
        )
        with self._lock:
            self._subscriptions.setdefault(user_id, set()).add(subscription)
        LIVE_SUBSCRIBERS.inc()
        return subscription

    def remove(self, subscription: LiveSubscription) -> None:
        with self._lock:
            listeners = self._subscriptions.get(subscription.user_id)
            if listeners is None or subscription not in listeners:
                return
            listeners.discard(subscription)
            LIVE_SUBSCRIBERS.dec()
            if not listeners:
                del self._subscriptions[subscription.user_id]

    def deliver(self, user_id: int, message: Message) -> int:
        """Offer ``message`` to every listener of ``user_id``; return how many there were."""
        return self.deliver_many(user_id, (message,))

    def deliver_many(self, user_id: int, messages: Sequence[Message]) -> int:
        """Offer ``messages`` in order to every listener of ``user_id``; return how many."""
        with self._lock:
            listeners = list(self._subscriptions.get(user_id, ()))
        if messages:
            for subscription in listeners:
                subscription.offer_many(messages)
        return len(listeners)

    def users(self) -> list[int]:
        with self._lock:
            return list(self._subscriptions)

    def subscriber_count(self, user_id: int | None = None) -> int:
        with self._lock:
            if user_id is not None:
                return len(self._subscriptions.get(user_id, ()))
            return sum(len(listeners) for listeners in self._subscriptions.values())
