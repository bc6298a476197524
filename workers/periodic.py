"""Self-rescheduling periodic jobs ("chains") on the Dramatiq queue.

``start_chain`` (called once at runtime start) names a new chain for a job,
stores its name (in Redis when there is one, else in this process) and enqueues
the first run; every run does its work and re-enqueues itself one interval
later. A run whose chain is no longer the current one stops, so restarts and
several processes never leave more than one chain of a job alive.
"""

from __future__ import annotations

import uuid

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from plugin.jobs import enqueue, enqueue_async
from plugin.runtime import Runtime
from plugin.settings import Settings

__all__ = ["continue_chain", "is_current", "start_chain"]

_embedded_chains: dict[str, str] = {}


def _chain_key(settings: Settings, job: str) -> str:
    return f"{settings.redis_prefix}:periodic:{job}"


def start_chain(runtime: Runtime, job: str) -> str:
    """Start a new chain of the actor ``job`` (superseding any earlier one); return its name."""
    chain = uuid.uuid4().hex
    settings = runtime.settings
    if settings.redis_url:
        client = SyncRedis.from_url(settings.redis_url)
        try:
            client.set(_chain_key(settings, job), chain)
        finally:
            client.close()
    else:
        _embedded_chains[job] = chain
    enqueue(job, chain)
    return chain


async def is_current(settings: Settings, job: str, chain: str) -> bool:
    if not settings.redis_url:
        return _embedded_chains.get(job) == chain
    client = Redis.from_url(settings.redis_url)
    try:
        current = await client.get(_chain_key(settings, job))
    finally:
        await client.aclose()
    if isinstance(current, bytes):
        current = current.decode()
    return current == chain


async def continue_chain(job: str, chain: str, interval_ms: int) -> None:
    """Enqueue the chain's next run (also after a failed run: one bad run must not end it)."""
    await enqueue_async(job, chain, delay_ms=interval_ms)
