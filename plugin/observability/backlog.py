"""The tracking queue's backlog, measured when /metrics is scraped.

Today the queue is Dramatiq's: on Redis every message waits (or runs) in the
hash ``<namespace>:tracking.msgs`` until acknowledged; embedded, in the
in-process broker's queue. A rebuilt hand-off replaces this one function.
"""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from plugin.runtime import current_runtime

__all__ = ["measure_backlog"]

_QUEUE = "tracking"  # plugin.tracking.handoff.QUEUE_NAME (not imported: no domain import here)


async def measure_backlog() -> int | None:
    """Messages in the tracking queue now, or None when this process cannot tell."""
    try:
        runtime = current_runtime()
    except RuntimeError:
        return None
    broker = runtime.broker
    if isinstance(broker, RedisBroker) and runtime.redis is not None:
        return int(await runtime.redis.hlen(f"{broker.namespace}:{_QUEUE}.msgs"))
    if isinstance(broker, StubBroker):
        queue = broker.queues.get(_QUEUE)
        return queue.qsize() if queue is not None else 0
    return None
