"""What one mailbeacon process holds while it runs: settings, Redis, broker, embedded worker,
the hits' hand-off and the live bus.

plugin.composition (the ASGI lifespan of ``serve``, and ``worker``) creates it with
``create_runtime``, starts and stops its parts and puts it in this process's
:class:`RuntimeSlot`: the routes built before the start are given that slot and read
the runtime from it; the actors (entry points too) take it with ``current_runtime()``
and pass its parts down. This module is core: it imports no domain and no worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
from redis.asyncio import Redis

from plugin.settings import Settings

if TYPE_CHECKING:
    from plugin.live.bus import LiveBus
    from plugin.tracking.edge.handoff import Handoff

__all__ = [
    "Runtime",
    "RuntimeSlot",
    "create_runtime",
    "current_runtime",
    "process_slot",
    "release_runtime",
]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    broker: dramatiq.Broker
    redis: Redis | None = None
    worker: dramatiq.Worker | None = None
    # ``serve``'s parts, started and stopped by the composition root.
    handoff: Handoff | None = None  # where the tracking routes hand hits over
    live: LiveBus | None = None  # the subscriber side of the live channels
    # Per-process parts that domains create on first use (e.g. the SELF-client store).
    extras: dict[str, Any] = field(default_factory=dict)


class RuntimeSlot:
    """Where the composition root puts the runtime it started (None before and after)."""

    __slots__ = ("runtime",)

    def __init__(self) -> None:
        self.runtime: Runtime | None = None


# This process's slot: the one place a started runtime is found from outside the
# composition root (the routes are given it; actors read it through current_runtime).
_process = RuntimeSlot()


def process_slot() -> RuntimeSlot:
    return _process


def current_runtime() -> Runtime:
    runtime = _process.runtime
    if runtime is None:
        raise RuntimeError(
            "mailbeacon is not started in this process (create_runtime was not called)"
        )
    return runtime


def create_runtime(
    settings: Settings, broker: dramatiq.Broker, *, embedded_worker: bool
) -> Runtime:
    """Hold this process's parts; in embedded mode, start worker threads on ``broker``."""
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    runtime = Runtime(settings=settings, broker=broker, redis=redis)
    if embedded_worker:
        runtime.worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
        runtime.worker.start()
    _process.runtime = runtime
    return runtime


async def release_runtime(runtime: Runtime) -> None:
    """Stop the embedded worker threads and close Redis."""
    if runtime.worker is not None:
        runtime.worker.stop(timeout=10_000)
    if runtime.redis is not None:
        await runtime.redis.aclose()
    if _process.runtime is runtime:
        _process.runtime = None
