"""Distributed mode: two ``serve`` processes and one ``worker`` on PostgreSQL and Redis.

The subscriber sits on serve A; the pixel is hit on serve B, which hands the hit
to the queue; the worker records it, publishes the event and makes the
notification; both reach A's WebSocket through Redis, and B's subscriber hears
the notification too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    PG_ADMIN_DSN,
    REDIS_URL,
    RUN_ID,
    _create_pg_database,
    _drop_pg_database,
    free_port,
)
from tests.live.wsclient import GraphQLWS
from tests.tracking.tracked_mail import THUNDERBIRD_UA

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MAILBEACON = [sys.executable, "-m", "plugin.cli"]
EVENTS = "subscription { trackingEvents { id emailId kind source } }"
BELL = "subscription { notifications { kind count email { id } } }"


@dataclass
class Cluster:
    env: dict[str, str]
    serve_urls: list[str]
    token: str
    user_id: int
    prefix: str


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"{url} exited: {log.read_text()[-3000:]}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not start: {log.read_text()[-3000:]}")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    name = f"mbdist_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    await _create_pg_database(name)
    prefix = f"mbtest:{RUN_ID}:dist{uuid.uuid4().hex[:6]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}",
        "MAILBEACON_REDIS_URL": REDIS_URL,
        "MAILBEACON_REDIS_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[object] = []

    def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        logs.append(handle)
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        _run([*MAILBEACON, "migrate"], env)
        out = _run([*MAILBEACON, "users", "create", "seller@example.com"], env).strip().splitlines()
        token = out[-1]
        user_id = int(out[0].split("(id ")[1].split(")")[0].split(",")[0])
        urls = []
        for n in range(2):
            port = free_port()
            spawn([*MAILBEACON, "serve", "--port", str(port)], tmp_path / f"serve{n}.log")
            urls.append(f"http://127.0.0.1:{port}")
        spawn([*MAILBEACON, "worker", "--threads", "2"], tmp_path / "worker.log")
        for n, url in enumerate(urls):
            await _wait_healthy(url, procs[n], tmp_path / f"serve{n}.log")
        yield Cluster(env=env, serve_urls=urls, token=token, user_id=user_id, prefix=prefix)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for handle in logs:
            handle.close()  # type: ignore[attr-defined]
        await _drop_pg_database(name)


async def _wait_numsub(redis_client: object, channel: str, count: int) -> None:
    for _ in range(500):
        [(_, subscribers)] = await redis_client.pubsub_numsub(channel)  # type: ignore[attr-defined]
        if subscribers >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{channel} never had {count} subscriber(s)")


async def test_an_event_recorded_elsewhere_reaches_a_subscriber_on_another_serve(
    cluster: Cluster, redis_client: object
) -> None:
    a_url, b_url = cluster.serve_urls
    async with await GraphQLWS.connect(a_url, cluster.token) as on_a, \
            await GraphQLWS.connect(b_url, cluster.token) as on_b:
        events_op = await on_a.subscribe(EVENTS)
        bell_op = await on_a.subscribe(BELL)
        await on_b.subscribe(BELL)
        # One Redis subscription per process, whatever the number of local subscribers.
        channel = f"{cluster.prefix}:live:user:{cluster.user_id}"
        await _wait_numsub(redis_client, channel, 2)
        [(_, subscribers)] = await redis_client.pubsub_numsub(channel)  # type: ignore[attr-defined]
        assert subscribers == 2

        out = await asyncio.to_thread(
            _run,
            [sys.executable, "-m", "tests.live.trigger_event", str(cluster.user_id), "mail"],
            cluster.env,
        )
        email_id = out.split("EMAIL ")[1].split()[0]
        open_path = out.split("OPEN ")[1].split()[0]
        async with httpx.AsyncClient(base_url=b_url) as client:
            hit = await client.get(open_path, headers={"User-Agent": THUNDERBIRD_UA})
        assert hit.status_code == 200
        got = {}
        for _ in range(2):
            message = await on_a.next(20)
            assert message["type"] == "next", message
            got[message["id"]] = message["payload"]["data"]
        assert got[events_op]["trackingEvents"]["emailId"] == email_id
        assert got[events_op]["trackingEvents"]["source"] == "HUMAN"
        assert got[bell_op]["notifications"] == {
            "kind": "EMAIL_OPENED", "count": 1, "email": {"id": email_id}
        }
        on_b_data = await on_b.next_data(20)
        assert on_b_data["notifications"]["email"]["id"] == email_id
