"""The composition root: what wires settings, broker, runtime, gates and schedules together.

The entry points use it and nothing else assembles mailbeacon: ``serve`` (the ASGI
lifespan of plugin.app, through :func:`serving`) and ``worker`` (plugin.cli, through
:func:`start_runtime` and :func:`start_hit_consumer`). It sits above every domain,
consent and the workers, so that the core it assembles (settings, hooks, errors, db,
runtime) imports none of them. Each start, in this order:

1. the broker for these settings (workers.broker), then the actors declared on it, and
   every job the code refers to checked against them (plugin.jobs.check_jobs);
2. the runtime (plugin.runtime: Redis client, embedded worker threads);
3. the gates: consent registers its hook handlers, bound to these settings, once;
4. the periodic chains (anew, once per start).

Settings are built once by the entry point (``load_settings``) and passed down from
here: to the runtime, the gates, the app's routes and the GraphQL context.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from consent.gate import install as install_consent_gates
from plugin.cpu import configure_cpu_pool, shutdown_cpu_pool
from plugin.db import ensure_migrated, open_orm
from plugin.heap import freeze_startup_heap, thaw_startup_heap
from plugin.jobs import check_jobs
from plugin.live.bus import start_live, stop_live
from plugin.runtime import Runtime, create_runtime, process_slot, release_runtime
from plugin.sending.smtp_pool import close_pools
from plugin.settings import Settings
from plugin.tracking.edge.handoff import start_handoff, stop_handoff
from plugin.tracking.pipeline.runner import RunningConsumer, start_consumer
from workers.broker import configure_broker, load_actors, start_schedules
from workers.middleware import worker_orm_context

__all__ = ["serving", "start_hit_consumer", "start_runtime", "stop_runtime"]


def start_runtime(settings: Settings, *, embedded_worker: bool) -> Runtime:
    """Configure the broker, declare the actors on it, check every job referred to against
    them (``UnknownJobError`` otherwise), hold the runtime (in embedded mode, start worker
    threads here), install the gates and start the periodic chains."""
    broker = configure_broker(settings)  # before load_actors: actors bind to it
    load_actors()
    # Every job the code refers to has its actor, on its queue: UnknownJobError otherwise.
    check_jobs(broker)
    runtime = create_runtime(settings, broker, embedded_worker=embedded_worker)
    process_slot().runtime = runtime  # the actors' (and routes') way to it from now on
    install_consent_gates(settings)
    start_schedules(runtime)
    return runtime


def start_hit_consumer(runtime: Runtime) -> RunningConsumer:
    """Record hits on the event loop (and in the ORM context) of the started worker."""
    return start_consumer(runtime, worker_orm_context(runtime.broker))


async def stop_runtime(runtime: Runtime) -> None:
    """Stop the workers, close Redis, then the SMTP connections opened on this loop
    (tests deliver on the server's loop); the process has no runtime any more."""
    try:
        await _release(runtime)
    finally:
        _vacate(runtime)


async def _release(runtime: Runtime) -> None:
    try:
        await release_runtime(runtime)
    finally:
        await close_pools()


def _vacate(runtime: Runtime) -> None:
    slot = process_slot()
    if slot.runtime is runtime:
        slot.runtime = None


@asynccontextmanager
async def serving(settings: Settings, *, embedded_worker: bool) -> AsyncIterator[Runtime]:
    """Everything ``serve`` runs while it serves: storage (migrations checked), the CPU
    pool, the runtime, the hits' hand-off, the hit consumer (embedded worker only) and
    the live bus; stopped in the reverse order."""
    await ensure_migrated(settings)
    configure_cpu_pool(settings.cpu_workers, settings.cpu_pool)
    async with open_orm(settings):
        runtime = start_runtime(settings, embedded_worker=embedded_worker)
        runtime.handoff = handoff = start_handoff(settings)
        consumer = start_hit_consumer(runtime) if embedded_worker else None
        runtime.live = live = await start_live(settings)
        freeze_startup_heap()
        try:
            yield runtime
        finally:
            thaw_startup_heap()  # (a test run or host app starts this lifespan again)
            # Live first: subscribers end before the workers that feed them stop.
            runtime.live = None
            await stop_live(live)
            if consumer is not None:  # finishes the batch in hand; the rest stays spooled
                await asyncio.to_thread(consumer.stop)
            try:
                await _release(runtime)
                # After the workers: what they did not record stays spooled for the next
                # start. Hits keep being taken until then.
                await stop_handoff(handoff)
                runtime.handoff = None
            finally:
                _vacate(runtime)
            await asyncio.to_thread(shutdown_cpu_pool)  # after the workers that use it
