"""The live publisher: one connection however many publish at once, payloads in order
(real Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from plugin.live.bus import _publisher, channel_name, close_publishers, publish
from tests.conftest import REDIS_URL, RUN_ID


async def test_concurrent_publishes_share_one_connection_and_keep_their_order(
    settings: Any, redis_client: Any
) -> None:
    config = dataclasses.replace(
        settings, redis_url=REDIS_URL, redis_prefix=f"mbtest:{RUN_ID}:publisher"
    )
    channel = channel_name(config, 5)
    tap = redis_client.pubsub()
    await tap.subscribe(channel)
    try:
        await asyncio.gather(*(publish(config, [(5, {"type": "event", "n": n})])
                               for n in range(40)))

        pool = _publisher(REDIS_URL)._client.connection_pool
        assert pool._created_connections == 1
        received = []
        while len(received) < 40:
            message = await asyncio.wait_for(tap.get_message(timeout=5), 6)
            if message is not None and message["type"] == "message":
                received.append(json.loads(message["data"])["n"])
        assert received == list(range(40))
    finally:
        close_publishers()
        await tap.aclose()
