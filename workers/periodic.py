"""Self-rescheduling periodic jobs ("chains") on the Dramatiq queue.

``start_chain`` (called once at runtime start) names a new chain for a job,
stores its name (in Redis when there is one, else in this process) and enqueues
the first run; every run does its work and re-enqueues itself one interval
later. A run whose chain is no longer the current one stops, so restarts and
several processes never leave more than one chain of a job alive.

A chain lives only in Redis (its name and its next, delayed run). A Redis that
restarts without persistence loses both, and nothing would run the job again
until a process restarts: ``restore_lost_chains`` (called by ``mailbeacon
worker`` every ``WATCH_SECONDS``) starts anew every chain of this process whose
name is gone.
"""

from __future__ import annotations

import logging
import uuid

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from plugin.jobs import JobName, enqueue, enqueue_async
from plugin.runtime import Runtime
from plugin.settings import Settings

__all__ = ["WATCH_SECONDS", "continue_chain", "is_current", "restore_lost_chains", "start_chain"]

log = logging.getLogger(__name__)

# How often a worker looks for chains that Redis lost: the jobs run every minute or hour,
# so half a minute's look costs one EXISTS per job and loses at most one run.
WATCH_SECONDS = 30.0

_embedded_chains: dict[str, str] = {}
_started: dict[str, JobName] = {}  # the jobs whose chain this process started


def _chain_key(settings: Settings, job: JobName) -> str:
    return f"{settings.redis_prefix}:periodic:{job.name}"


def start_chain(runtime: Runtime, job: JobName) -> str:
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
        _embedded_chains[job.name] = chain
    _started[job.name] = job
    enqueue(job, chain)
    return chain


def restore_lost_chains(runtime: Runtime) -> list[str]:
    """Start again the chains this process started whose name Redis no longer holds (it
    lost its data); return their jobs. Several workers doing so at once is harmless: the
    last name written wins and the other chains stop at their first run."""
    settings = runtime.settings
    if not settings.redis_url or not _started:
        return []
    # Timeouts: a Redis that hangs must not keep the worker's main thread from its SIGTERM.
    client = SyncRedis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        lost = [
            job for _, job in sorted(_started.items())
            if not client.exists(_chain_key(settings, job))
        ]
    finally:
        client.close()
    for job in lost:
        start_chain(runtime, job)
    if lost:
        log.warning(
            "Redis had lost the schedule of %s (restarted without persistence?): started again",
            ", ".join(job.name for job in lost),
        )
    return [job.name for job in lost]


async def is_current(settings: Settings, job: JobName, chain: str) -> bool:
    if not settings.redis_url:
        return _embedded_chains.get(job.name) == chain
    client = Redis.from_url(settings.redis_url)
    try:
        current = await client.get(_chain_key(settings, job))
    finally:
        await client.aclose()
    if isinstance(current, bytes):
        current = current.decode()
    return current == chain


async def continue_chain(job: JobName, chain: str, interval_ms: int) -> None:
    """Enqueue the chain's next run (also after a failed run: one bad run must not end it)."""
    await enqueue_async(job, chain, delay_ms=interval_ms)
