"""The daily purge of tracking events past retention (``MAILBEACON_EVENT_RETENTION_DAYS``).

A self-rescheduling chain: ``start_purge_schedule`` (called once at runtime start)
names a new chain, stores its name (in Redis when there is one, else in this
process) and enqueues the first run; every run purges and re-enqueues itself a
day later. A run whose chain is no longer the current one stops, so restarts
and several processes never leave more than one chain alive.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from consent.retention import purge_expired_events
from plugin.jobs import enqueue, enqueue_async
from plugin.runtime import Runtime, current_runtime
from plugin.settings import Settings

__all__ = ["PURGE_INTERVAL_MS", "purge_old_events", "start_purge_schedule"]

log = logging.getLogger(__name__)

PURGE_INTERVAL_MS = 24 * 60 * 60 * 1000
_embedded_chain: str | None = None


def _chain_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:purge:chain"


def start_purge_schedule(runtime: Runtime) -> str:
    """Start a new purge chain (superseding any earlier one) and return its name."""
    global _embedded_chain
    chain = uuid.uuid4().hex
    settings = runtime.settings
    if settings.redis_url:
        client = SyncRedis.from_url(settings.redis_url)
        try:
            client.set(_chain_key(settings), chain)
        finally:
            client.close()
    else:
        _embedded_chain = chain
    enqueue("purge_old_events", chain)
    return chain


async def _is_current(chain: str, settings: Settings) -> bool:
    if not settings.redis_url:
        return chain == _embedded_chain
    client = Redis.from_url(settings.redis_url)
    try:
        current = await client.get(_chain_key(settings))
    finally:
        await client.aclose()
    if isinstance(current, bytes):
        current = current.decode()
    return current == chain


@dramatiq.actor(queue_name="housekeeping", max_retries=0)
async def purge_old_events(chain: str | None = None) -> None:
    """Purge events past retention; within a chain, run again a day later.

    ``chain=None`` is a one-off run (nothing is rescheduled)."""
    settings = current_runtime().settings
    if chain is not None and not await _is_current(chain, settings):
        return
    try:
        deleted = await purge_expired_events(settings)
        log.info("purged %d tracking event(s) past retention", deleted)
    finally:
        # Rescheduled even after a failure: a bad day must not end the chain.
        if chain is not None:
            await enqueue_async("purge_old_events", chain, delay_ms=PURGE_INTERVAL_MS)
