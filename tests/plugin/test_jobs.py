"""Jobs enqueued from async code on a Redis broker share one connection (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from plugin.jobs import enqueue_async
from tests.conftest import REDIS_URL, RUN_ID


@pytest.fixture
def redis_broker() -> Iterator[RedisBroker]:
    previous = dramatiq.get_broker()
    namespace = f"mbtest:{RUN_ID}:jobs"
    broker = RedisBroker(url=REDIS_URL, namespace=namespace)
    dramatiq.actor(lambda n: None, actor_name="noop", broker=broker)
    dramatiq.set_broker(broker)
    try:
        yield broker
    finally:
        dramatiq.set_broker(previous)
        broker.flush_all()
        broker.client.delete(f"{namespace}:__heartbeats__")  # flush_all leaves it
        broker.close()


async def test_a_burst_of_enqueues_uses_one_connection_of_the_brokers_pool(
    redis_broker: RedisBroker,
) -> None:
    await asyncio.gather(*(enqueue_async("noop", n) for n in range(50)))

    assert redis_broker.client.connection_pool._created_connections == 1
    assert redis_broker.client.llen(f"{redis_broker.namespace}:default") == 50
