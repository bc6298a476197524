"""The process's one Redis subscription survives a Redis restart by reconnecting."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from plugin.live.bus import LiveBus, close_publishers, publish
from tests.conftest import free_port

pytestmark = pytest.mark.slow


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def _numsub(url: str, channel: str, want: int) -> None:
    for _ in range(500):
        try:
            client = Redis.from_url(url)
            try:
                [(_, count)] = await client.pubsub_numsub(channel)
            finally:
                await client.aclose()
            if count >= want:
                return
        except OSError:
            pass
        except Exception as exc:  # redis.ConnectionError while the server is starting
            if "connect" not in str(exc).lower():
                raise
        await asyncio.sleep(0.02)
    raise AssertionError(f"{channel} never reached {want} subscriber(s)")


async def test_live_delivery_resumes_after_redis_restarts(
    settings: Any, private_redis: PrivateRedis
) -> None:
    distributed = dataclasses.replace(
        settings, redis_url=private_redis.url, redis_prefix="mbtest:restart"
    )
    bus = LiveBus(distributed)
    await bus.start()
    channel = "mbtest:restart:live:user:42"
    try:
        async with bus.subscribe(42) as subscription:
            await _numsub(private_redis.url, channel, 1)
            await publish(distributed, [(42, {"type": "event", "n": 1})])
            assert await asyncio.wait_for(subscription.get(), 5) == {"type": "event", "n": 1}

            private_redis.stop()
            await publish(distributed, [(42, {"type": "event", "n": 2})])  # logged, not raised
            private_redis.start()
            await _numsub(private_redis.url, channel, 1)  # resubscribed by the reconnect loop
            assert bus.fanin is not None and bus.fanin.reconnects >= 1

            await publish(distributed, [(42, {"type": "event", "n": 3})])
            assert await asyncio.wait_for(subscription.get(), 5) == {"type": "event", "n": 3}
    finally:
        await bus.stop()
        close_publishers()
