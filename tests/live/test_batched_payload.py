"""One Redis message per user channel per publish, unpacked in order by the fan-in (real Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugin.live.bus import LiveBus, channel_name, close_publishers, publish
from plugin.live.hub import Hub
from tests.conftest import REDIS_URL, RUN_ID


@pytest.fixture
async def distributed(settings: Any) -> AsyncIterator[Any]:
    config = dataclasses.replace(
        settings, redis_url=REDIS_URL, redis_prefix=f"mbtest:{RUN_ID}:batched"
    )
    yield config
    close_publishers()


async def _wait_numsub(redis_client: Any, channel: str, count: int) -> None:
    for _ in range(500):
        [(_, subscribers)] = await redis_client.pubsub_numsub(channel)
        if subscribers >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{channel} never had {count} subscriber(s)")


async def test_a_publish_is_one_redis_message_per_user_and_arrives_in_order(
    distributed: Any, redis_client: Any
) -> None:
    bus = LiveBus(distributed)
    await bus.start()
    tap = redis_client.pubsub()  # sees the raw Redis messages
    channels = [channel_name(distributed, user) for user in (7, 8)]
    await tap.subscribe(*channels)
    try:
        async with bus.subscribe(7) as seven, bus.subscribe(8) as eight, bus.subscribe(7) as again:
            await _wait_numsub(redis_client, channels[0], 2)
            await _wait_numsub(redis_client, channels[1], 2)
            items = [
                (7, {"type": "event", "n": 1}),
                (8, {"type": "notification", "n": 2}),
                (7, {"type": "event", "n": 3}),
                (7, {"type": "notification", "n": 4}),
            ]
            await publish(distributed, items)
            await publish(distributed, [(8, {"type": "event", "n": 5})])  # a lone message

            mine = [m for u, m in items if u == 7]
            assert [await asyncio.wait_for(seven.get(), 5) for _ in mine] == mine
            assert [await asyncio.wait_for(again.get(), 5) for _ in mine] == mine
            theirs = [{"type": "notification", "n": 2}, {"type": "event", "n": 5}]
            assert [await asyncio.wait_for(eight.get(), 5) for _ in theirs] == theirs

            raw = []
            while len(raw) < 3:
                message = await asyncio.wait_for(tap.get_message(timeout=5), 6)
                if message is not None and message["type"] == "message":
                    raw.append((message["channel"].decode(), json.loads(message["data"])))
            assert raw == [
                (channels[0], {"type": "batch", "messages": mine}),
                (channels[1], {"type": "notification", "n": 2}),  # alone: as before
                (channels[1], {"type": "event", "n": 5}),
            ]
    finally:
        await tap.aclose()
        await bus.stop()


async def test_old_single_payloads_still_arrive_and_malformed_ones_are_skipped(
    distributed: Any, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bus = LiveBus(distributed)
    await bus.start()
    channel = channel_name(distributed, 9)
    try:
        async with bus.subscribe(9) as subscription:
            await _wait_numsub(redis_client, channel, 1)
            with caplog.at_level(logging.WARNING, logger="mailbeacon.live"):
                for data in (
                    "not json",
                    json.dumps([{"type": "event"}]),
                    json.dumps({"type": "batch", "messages": [{"n": 1}, "nope"]}),
                    json.dumps({"type": "event", "n": 1}),  # what earlier workers publish
                    json.dumps({"type": "batch", "messages": [{"n": 2}, {"n": 3}]}),
                ):
                    await redis_client.publish(channel, data)
                got = [await asyncio.wait_for(subscription.get(), 5) for _ in range(3)]
            assert got == [{"type": "event", "n": 1}, {"n": 2}, {"n": 3}]
            assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 3
    finally:
        await bus.stop()


async def test_messages_handed_over_from_another_thread_keep_their_order() -> None:
    hub = Hub()
    subscription = hub.add(1)
    messages = [{"n": n} for n in range(50)]
    thread = threading.Thread(target=lambda: hub.deliver_many(1, messages))
    thread.start()
    thread.join()
    assert [await asyncio.wait_for(subscription.get(), 5) for _ in messages] == messages
    assert hub.deliver_many(1, []) == 1
    assert subscription.queue.empty()
    hub.remove(subscription)
