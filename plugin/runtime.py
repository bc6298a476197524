"""What one mailbeacon process holds while it runs: settings, Redis, broker, embedded worker.

plugin.composition (the ASGI lifespan of ``serve``, and ``worker``) creates it with
``create_runtime``; services reach the running process's parts through
``current_runtime()``. This module is core: it imports no domain and no worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from redis.asyncio import Redis

from plugin.settings import Settings

__all__ = ["Runtime", "create_runtime", "current_runtime", "release_runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    broker: dramatiq.Broker
    redis: Redis | None = None
    worker: dramatiq.Worker | None = None
    # Per-process parts that domains create on first use (e.g. the SELF-client store).
    extras: dict[str, Any] = field(default_factory=dict)


_current: Runtime | None = None


def current_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError(
            "mailbeacon is not started in this process (create_runtime was not called)"
        )
    return _current


def create_runtime(
    settings: Settings, broker: dramatiq.Broker, *, embedded_worker: bool
) -> Runtime:
    """Hold this process's parts; in embedded mode, start worker threads on ``broker``."""
    global _current
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    runtime = Runtime(settings=settings, broker=broker, redis=redis)
    if embedded_worker:
        runtime.worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
        runtime.worker.start()
    _current = runtime
    return runtime


async def release_runtime(runtime: Runtime) -> None:
    """Stop the embedded worker threads and close Redis."""
    global _current
    if runtime.worker is not None:
        runtime.worker.stop(timeout=10_000)
    if runtime.redis is not None:
        await runtime.redis.aclose()
    if _current is runtime:
        _current = None
