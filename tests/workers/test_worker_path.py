"""The first actor (touch_token) proves the queue end to end, embedded and on Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from plugin.accounts.models import ApiToken
from tests.conftest import REDIS_URL, RUN_ID, GraphQL, UserFactory


async def _wait_for_last_seen(prefix: str, timeout: float = 20) -> datetime:
    for _ in range(int(timeout / 0.05)):
        token = await ApiToken.get(prefix=prefix)
        if token.last_seen_at is not None:
            return token.last_seen_at
        await asyncio.sleep(0.05)
    raise AssertionError("the actor never recorded last_seen_at")


async def test_embedded_mode_runs_the_actor_inside_serve(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    assert (await ApiToken.get(prefix=user.token[:10])).last_seen_at is None
    body = await gql("{ me { email } }", user=user)
    assert body["data"]["me"]["email"] == user.email
    seen = await _wait_for_last_seen(user.token[:10])
    assert (datetime.now(UTC) - seen).total_seconds() < 60


async def test_redis_mode_runs_the_actor_in_a_worker_process(
    base_env: dict[str, str], make_user: UserFactory
) -> None:
    user = await make_user()
    token = await ApiToken.get(prefix=user.token[:10])
    prefix = f"mbtest:{RUN_ID}:worker"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    env.update(base_env, MAILBEACON_REDIS_URL=REDIS_URL, MAILBEACON_REDIS_PREFIX=prefix)
    worker = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", "worker", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    broker: Any = RedisBroker(url=REDIS_URL, namespace=f"{prefix}:dramatiq")
    try:
        when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        message: Message[Any] = Message(
            queue_name="housekeeping",
            actor_name="touch_token",
            args=(token.id, when.isoformat()),
            kwargs={},
            options={},
        )
        await asyncio.to_thread(broker.enqueue, message)
        assert await _wait_for_last_seen(user.token[:10], timeout=30) == when
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()  # never leave a worker running after the suite
            output = f"worker did not stop within 30 s of SIGTERM:\n{worker.communicate()[0]}"
        broker.flush_all()
        broker.close()
        broker.client.connection_pool.disconnect()
    assert worker.returncode == 0, output
