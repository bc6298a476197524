"""The composition root: what wires settings, broker, actors, gates and schedules together.

``serve`` (app.py's lifespan) and ``worker`` (cli.py) start mailbeacon through here. It
sits above every domain and the workers, so that the core it assembles (runtime.py,
settings, hooks, errors, db) imports none of them.
"""

from __future__ import annotations

from consent.gate import install as install_consent_gate
from plugin.jobs import check_jobs
from plugin.runtime import Runtime, create_runtime, release_runtime
from plugin.settings import Settings
from workers.broker import configure_broker, load_actors

__all__ = ["install_gates", "start_runtime", "stop_runtime"]


def install_gates() -> None:
    """Consent gates every send and every recorded hit (idempotent)."""
    install_consent_gate()


def start_runtime(settings: Settings, *, embedded_worker: bool) -> Runtime:
    """Configure the broker, load actors, check that every job referred to has its actor
    (``UnknownJobError`` otherwise) and, in embedded mode, start worker threads here; then
    install the gates and start (anew) the periodic chains, once per start."""
    broker = configure_broker(settings)  # before load_actors: actors bind to it
    load_actors()
    # Every job the code refers to has its actor, on its queue: UnknownJobError otherwise.
    check_jobs(broker)
    runtime = create_runtime(settings, broker, embedded_worker=embedded_worker)
    # Actor modules are imported only now: an actor binds to the broker current at its
    # import (load_actors imported them under this one).
    from workers.actors.purge import start_purge_schedule
    from workers.actors.send import start_send_sweep_schedule
    from workers.actors.sweep import start_sweep_schedule

    install_gates()
    start_purge_schedule(runtime)
    start_sweep_schedule(runtime)
    start_send_sweep_schedule(runtime)
    return runtime


async def stop_runtime(runtime: Runtime) -> None:
    """Stop the workers, close Redis, then the SMTP connections opened on this loop
    (tests deliver on the server's loop)."""
    from plugin.sending.smtp_pool import close_pools

    try:
        await release_runtime(runtime)
    finally:
        await close_pools()
