"""Remember the sender's own clients, so that its own views of its mail count as SELF.

Every authenticated API request (GraphQL over HTTP, WebSocket connect) tells us
that (user, client address, user agent) is one of the user's own clients for
``self_window_hours``. Only a keyed hash of the triple is kept (``self_digest``).

- Embedded: a dict in this process's memory (the embedded workers share it).
- Distributed: Redis keys ``{prefix}:self:{digest}`` with a TTL, seen by every
  server and worker process. Each process skips rewriting a key it wrote
  recently, so a busy client costs one Redis write per few minutes, not per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis

from plugin.runtime import Runtime, RuntimeSlot
from plugin.settings import Settings
from plugin.tracking.edge.hits import self_digest

__all__ = [
    "MemorySelfClients",
    "RedisSelfClients",
    "SelfClients",
    "client_observer",
    "self_clients_of",
]

log = logging.getLogger(__name__)

SelfKey = tuple[int, str, str]  # (user id, client address, user agent)
_REFRESH_SECONDS = 300.0


class SelfClients:
    """The interface: remember a client, and ask which of some clients were seen."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ttl = max(1.0, settings.self_window_hours * 3600)

    def digest(self, key: SelfKey) -> str:
        return self_digest(self.settings, *key)

    async def observe(self, user_id: int, address: str, user_agent: str) -> None:
        raise NotImplementedError

    async def seen(self, keys: Iterable[SelfKey]) -> set[SelfKey]:
        raise NotImplementedError


class MemorySelfClients(SelfClients):
    """In-process store (embedded mode); safe across the server loop and worker threads."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    async def observe(self, user_id: int, address: str, user_agent: str) -> None:
        now = time.monotonic()
        digest = self.digest((user_id, address, user_agent))
        with self._lock:
            self._expires[digest] = now + self.ttl
            if now >= self._next_prune:
                self._next_prune = now + 60
                for key in [k for k, until in self._expires.items() if until <= now]:
                    del self._expires[key]

    async def seen(self, keys: Iterable[SelfKey]) -> set[SelfKey]:
        now = time.monotonic()
        found: set[SelfKey] = set()
        with self._lock:
            for key in keys:
                if self._expires.get(self.digest(key), 0.0) > now:
                    found.add(key)
        return found


class RedisSelfClients(SelfClients):
    """Shared store (distributed mode): one key per client with the window as TTL."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        super().__init__(settings)
        self.redis = redis
        self._written: dict[str, float] = {}  # digest -> when this process last wrote it

    def _key(self, digest: str) -> str:
        return f"{self.settings.redis_prefix}:self:{digest}"

    async def observe(self, user_id: int, address: str, user_agent: str) -> None:
        digest = self.digest((user_id, address, user_agent))
        now = time.monotonic()
        refresh = min(_REFRESH_SECONDS, self.ttl / 10)
        if now - self._written.get(digest, -refresh) < refresh:
            return
        await self.redis.set(self._key(digest), b"1", ex=int(self.ttl))
        self._written[digest] = now
        if len(self._written) > 100_000:  # bounded: forget the oldest half
            for key in sorted(self._written, key=self._written.__getitem__)[:50_000]:
                del self._written[key]

    async def seen(self, keys: Iterable[SelfKey]) -> set[SelfKey]:
        candidates = list(dict.fromkeys(keys))
        if not candidates:
            return set()
        values = await self.redis.mget([self._key(self.digest(key)) for key in candidates])
        return {key for key, value in zip(candidates, values, strict=True) if value is not None}


def self_clients_of(runtime: Runtime) -> SelfClients:
    """The store of this process (made on first use, kept in ``runtime.extras``)."""
    store = runtime.extras.get("self_clients")
    if store is None:
        if runtime.redis is not None:
            store = RedisSelfClients(runtime.settings, runtime.redis)
        else:
            store = MemorySelfClients(runtime.settings)
        runtime.extras["self_clients"] = store
    assert isinstance(store, SelfClients)
    return store


def client_observer(slot: RuntimeSlot) -> Callable[[int, str, str], Awaitable[None]]:
    """The GraphQL endpoint's ``client_observer``: remember one of a user's own clients in
    the SELF store of the runtime that ``slot`` holds (plugin.composition puts it there).

    Never fails the API request it observes: a Redis hiccup only weakens self detection.
    """

    async def observe_client(user_id: int, address: str, user_agent: str) -> None:
        runtime = slot.runtime
        if runtime is None:
            return
        try:
            await self_clients_of(runtime).observe(user_id, address, user_agent)
        except Exception:
            log.warning("could not remember an API client for self detection", exc_info=True)

    return observe_client
