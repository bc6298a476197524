"""Jobs enqueued from async code on a Redis broker share one connection (real Redis).

In a process of its own: the test's broker becomes Dramatiq's global one there, which
in the test session would also catch the session server's own enqueues.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REDIS_URL, RUN_ID

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, json, sys
import dramatiq
from dramatiq.brokers.redis import RedisBroker

url, namespace = sys.argv[1:3]
broker = RedisBroker(url=url, namespace=namespace)
dramatiq.actor(lambda n: None, actor_name="noop", broker=broker)
dramatiq.set_broker(broker)

from plugin.jobs import enqueue_async

async def burst() -> None:
    await asyncio.gather(*(enqueue_async("noop", n) for n in range(50)))

try:
    asyncio.run(burst())
    print(json.dumps([broker.client.connection_pool._created_connections,
                      broker.client.llen(f"{namespace}:default")]))
finally:
    broker.flush_all()
    broker.client.delete(f"{namespace}:__heartbeats__")  # flush_all leaves it
    broker.close()
"""


def test_a_burst_of_enqueues_uses_one_connection_of_the_brokers_pool() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, REDIS_URL, f"mbtest:{RUN_ID}:jobs"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    connections, queued = json.loads(done.stdout)
    assert queued == 50
    assert connections == 1  # 6 through the loop's default executor (its threads here)
