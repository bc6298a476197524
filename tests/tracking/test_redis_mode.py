"""The distributed mode: hits batched into the Redis hit stream, a real `mailbeacon worker`
records them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from plugin.sending.models import SentEmail
from plugin.tracking.edge.handoff import GroupCommit, stream_handoff
from plugin.tracking.edge.hit_stream import stream_key, stream_sink
from plugin.tracking.pipeline.self_clients import RedisSelfClients
from tests.conftest import REDIS_URL, UserFactory
from tests.tracking.tracked_mail import BROWSER_UA, make_tracked_mail, wait_for_events, wire_hit

ROOT = Path(__file__).resolve().parents[2]


async def test_the_self_store_is_shared_through_redis(settings: Any, redis_client: Any) -> None:
    store = RedisSelfClients(settings, redis_client)
    await store.observe(7, "192.0.2.1", "Desk/1")
    other_process = RedisSelfClients(settings, redis_client)
    assert await other_process.seen([(7, "192.0.2.1", "Desk/1"), (8, "192.0.2.1", "Desk/1")]) == {
        (7, "192.0.2.1", "Desk/1")
    }
    keys = [key async for key in redis_client.scan_iter(match=f"{settings.redis_prefix}:self:*")]
    assert keys and all(b"192.0.2.1" not in key for key in keys)  # hashed, never the address
    assert 0 < await redis_client.ttl(keys[0]) <= settings.self_window_hours * 3600


def _connections(client: Redis) -> int:
    pool = client.connection_pool
    return len(pool._available_connections) + len(pool._in_use_connections)


async def test_the_hand_off_writes_on_one_connection_of_its_own(
    settings: Any, redis_client: Any
) -> None:
    key = f"{settings.redis_prefix}:own-connection:hits"
    commit, client = stream_handoff(REDIS_URL, key)
    shared = Redis.from_url(REDIS_URL)  # the process's client (API calls, health, metrics)
    try:
        # Hits arriving together while the process's other Redis calls run alongside.
        await asyncio.gather(*(commit.submit({"n": n}) for n in range(300)),
                             *(shared.set(f"{key}:x{n}", n) for n in range(30)))
        assert commit.hits == 300
        assert _connections(client) == 1
        assert await redis_client.xlen(key) == commit.batches
    finally:
        await commit.close()
        await client.aclose()
        await shared.aclose()


@pytest.mark.slow
async def test_batched_redis_hand_off_and_a_real_worker_record_every_hit_once(
    base_env: dict[str, str], settings: Any, redis_client: Any, make_user: UserFactory
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    # The sender's own client, remembered by a serve process in Redis.
    await RedisSelfClients(settings, redis_client).observe(user.id, "192.0.2.44", "Own/1 (x)")
    now = time.time()
    hits = [
        wire_hit(mail, at=now + i / 1000, ip=f"198.51.100.{i % 200}", ua=f"Reader/{i} (x)")
        for i in range(400)
    ]
    hits.append(wire_hit(mail, at=now, ip="192.0.2.44", ua="Own/1 (x)"))
    hits.append(wire_hit(mail, at=now, kind="C", link=2, ua=BROWSER_UA))  # held, then decided
    commit = GroupCommit(stream_sink(redis_client, stream_key(settings)))
    try:
        await asyncio.gather(*(commit.submit(hit) for hit in hits))
        assert commit.hits == len(hits) and commit.batches < 10  # many hits per entry
        assert await redis_client.xlen(stream_key(settings)) == commit.batches
        env = {**os.environ, **base_env, "MAILBEACON_REDIS_URL": REDIS_URL}
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "plugin.cli",
            "worker",
            "--threads",
            "2",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            events = await wait_for_events(mail.email, len(hits), timeout=90)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = await asyncio.wait_for(worker.communicate(), 30)
        assert worker.returncode == 0, errors.decode()[-2000:]
    finally:
        await commit.close()
    assert await redis_client.xlen(stream_key(settings)) == 0  # acknowledged and deleted
    assert sorted(str(e.event_id.hex) for e in events) == sorted(h["id"] for h in hits)
    by_ua = {e.user_agent: e for e in events}
    assert by_ua["Own/1 (x)"].source.value == "SELF"
    assert (by_ua[BROWSER_UA].source.value, by_ua[BROWSER_UA].rule) == ("HUMAN", "human")
    email = await SentEmail.get(id=mail.email.id)
    assert (email.open_count, email.click_count) == (400, 1)
