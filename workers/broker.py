"""The Dramatiq broker chosen by settings: Redis (distributed) or in-process (embedded).

Dramatiq binds actors to the broker that is current when their module is
imported, so ``configure_broker`` must run before ``load_actors``.
"""

from __future__ import annotations

import importlib

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from plugin.runtime import Runtime
from plugin.settings import Settings
from workers.middleware import OrmMiddleware

__all__ = ["ACTOR_MODULES", "configure_broker", "load_actors", "start_schedules"]

ACTOR_MODULES = [
    "workers.actors.api_tokens",
    "workers.actors.send",
    "workers.actors.purge",
    "workers.actors.notify",
    "workers.actors.record",
    "workers.actors.sweep",
]


def configure_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker for these settings and make it Dramatiq's global broker."""
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url, namespace=f"{settings.redis_prefix}:dramatiq")
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    # After AsyncIO: the ORM is opened on the worker's event-loop thread.
    broker.add_middleware(OrmMiddleware(settings))
    dramatiq.set_broker(broker)
    return broker


def load_actors() -> None:
    """Import every actor module so that its actors are declared on the current broker."""
    broker = dramatiq.get_broker()
    for module_name in ACTOR_MODULES:
        module = importlib.import_module(module_name)
        # Re-declare on the current broker when a module was imported under an earlier one
        # (tests configure several brokers in one process).
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor) and value.broker is not broker:
                value.broker = broker
                broker.declare_actor(value)


def start_schedules(runtime: Runtime) -> None:
    """Start (anew) every periodic chain; after ``load_actors``."""
    # Imported here, not at the top: an actor module binds its actors to the broker that
    # is current when it is first imported, which configure_broker sets at start.
    from workers.actors.purge import start_purge_schedule
    from workers.actors.send import start_send_sweep_schedule
    from workers.actors.sweep import start_sweep_schedule

    start_purge_schedule(runtime)
    start_sweep_schedule(runtime)
    start_send_sweep_schedule(runtime)
