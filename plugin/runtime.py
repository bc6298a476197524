"""What one mailbeacon process holds while it runs: settings, Redis, broker, embedded worker.

``start_runtime`` is called by the ASGI lifespan (``serve``) and by ``worker``;
services reach the running process's parts through ``current_runtime()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from redis.asyncio import Redis

from plugin.settings import Settings

__all__ = ["Runtime", "current_runtime", "start_runtime", "stop_runtime"]

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
            "mailbeacon is not started in this process (start_runtime was not called)"
        )
    return _current


def start_runtime(settings: Settings, *, embedded_worker: bool) -> Runtime:
    """Configure the broker, load actors and, in embedded mode, start worker threads here."""
    global _current
    from workers.broker import configure_broker, load_actors

    broker = configure_broker(settings)
    load_actors()
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    runtime = Runtime(settings=settings, broker=broker, redis=redis)
    if embedded_worker:
        runtime.worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
        runtime.worker.start()
    _current = runtime
    # Consent gates every send (idempotent); the periodic chains start (anew) once per start.
    from consent.gate import install as install_consent_gate
    from workers.actors.purge import start_purge_schedule
    from workers.actors.send import start_send_sweep_schedule
    from workers.actors.sweep import start_sweep_schedule

    install_consent_gate()
    start_purge_schedule(runtime)
    start_sweep_schedule(runtime)
    start_send_sweep_schedule(runtime)
    return runtime


async def stop_runtime(runtime: Runtime) -> None:
    global _current
    if runtime.worker is not None:
        runtime.worker.stop(timeout=10_000)
    # SMTP connections opened on this loop (tests deliver on the server's loop).
    from plugin.sending.smtp_pool import close_pools

    await close_pools()
    if runtime.redis is not None:
        await runtime.redis.aclose()
    if _current is runtime:
        _current = None
