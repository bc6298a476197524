"""Benchmark: live latency from ``after_events_committed`` to a WebSocket subscriber.

Run: .venv/bin/python bench/bench_live.py [--mode embedded|distributed|both]
     [--events 3000] [--subscribers 100,500,1000,2000] [--rounds 10]

The clock starts when the tracking pipeline would call
``plugin.live.dispatch.after_events_committed`` (after its commit) and stops
when a graphql-transport-ws ``next`` message carrying that event is read by a
real ``websockets`` client. (Once the pixel endpoint is mounted, measuring from
the pixel request adds the hand-off queue and the record actor.) Events are
MACHINE opens, so no notification work competes.

- latency: one subscriber, ``--events`` events one after another: p50 / p99.
- capacity: N connections (one user each) on one serve process.
  burst: every round one committed batch holds one event per user, i.e. all N
  subscribers are sent something at the same instant (the worst case);
  steady: 1,000 single events at ~500/s to users in turn while N are connected.
  p50 / p99 over every delivery. The goal is p99 < 100 ms with 1,000
  subscribers connected; we stop when the burst p99 exceeds 1 s.

Embedded: the app (uvicorn) runs in a thread of this process, on its own loop,
with SQLite; the clients share this process (and its GIL), which makes the
figures pessimistic. Distributed: one ``mailbeacon serve`` subprocess, PostgreSQL
(a private database, dropped afterwards) and Redis (a private prefix); this
process plays the worker that publishes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
QUERY = "subscription { trackingEvents { id emailId } }"
PG = os.environ.get("MAILBEACON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("MAILBEACON_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Subscriber:
    """One WebSocket connection with one trackingEvents subscription."""

    def __init__(self, sent: dict[str, float], latencies: list[float]) -> None:
        self.sent = sent
        self.latencies = latencies
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, token: str) -> None:
        self.ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await self.ws.send(json.dumps({"type": "connection_init",
                                       "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}
        await self.ws.send(json.dumps(subscribe))
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("type") == "ping":
                await self.ws.send('{"type":"pong"}')
            elif message.get("type") == "next":
                event_id = message["payload"]["data"]["trackingEvents"]["id"]
                started = self.sent.get(event_id)
                if started is not None:
                    self.latencies.append(time.perf_counter() - started)

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        await self.ws.close()


def _quantiles(values: list[float]) -> str:
    if not values:
        return "no deliveries"
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"n={len(ordered)} p50={p50:.1f} ms p99={p99:.1f} ms max={ordered[-1] * 1000:.1f} ms"


class Target:
    """Where subscribers connect and how to make users and commit events there."""

    url: str
    run: Callable[[Awaitable[Any]], Awaitable[Any]]  # run a coroutine where the ORM lives
    wait_subscribed: Callable[[int], Awaitable[None]]


async def _make_users(target: Target, count: int) -> list[tuple[int, str]]:
    async def create() -> list[tuple[int, str]]:
        from plugin.accounts.service import create_user, issue_token

        users = []
        for _ in range(count):
            user = await create_user(f"bench-{uuid.uuid4().hex[:12]}@example.com")
            users.append((user.id, await issue_token(user)))
        return users

    result: list[tuple[int, str]] = await target.run(create())
    return result


def _events(user_ids: list[int], sent: dict[str, float]) -> list[Any]:
    from plugin.hooks import RecordedEvent

    events = []
    for user_id in user_ids:
        event_id = str(uuid.uuid4())
        events.append(RecordedEvent(event_id=event_id, user_id=user_id, email_id=1, kind="OPEN",
                                    source="MACHINE", counted=False, url=None, recipient=None))
    return events


async def _commit(target: Target, events: list[Any], sent: dict[str, float]) -> None:
    from plugin.live.dispatch import after_events_committed

    started = time.perf_counter()
    for event in events:
        sent[event.event_id] = started
    await target.run(after_events_committed(events))


async def _settle(latencies: list[float], expected: int, timeout: float = 10) -> None:
    deadline = time.perf_counter() + timeout
    while len(latencies) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)


async def bench(
    target: Target, events: int, sizes: list[int], rounds: int, steady: int = 1000
) -> None:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    users = await _make_users(target, max(sizes))
    one = Subscriber(sent, latencies)
    await one.open(target.url, users[0][1])
    await target.wait_subscribed(1)
    for _ in range(events):
        await _commit(target, _events([users[0][0]], sent), sent)
        await _settle(latencies, len(sent), 2)
    print(f"  latency, 1 subscriber, {events} events one by one: {_quantiles(latencies)}",
          flush=True)
    await one.close()

    for size in sizes:
        sent.clear()
        latencies.clear()
        subscribers = [Subscriber(sent, latencies) for _ in range(size)]
        for start in range(0, size, 100):
            await asyncio.gather(*(s.open(target.url, users[i][1])
                                   for i, s in enumerate(subscribers[start:start + 100], start)))
        await target.wait_subscribed(size)
        ids = [user_id for user_id, _ in users[:size]]
        for _ in range(rounds):
            await _commit(target, _events(ids, sent), sent)
            await _settle(latencies, len(sent))
        lost = len(sent) - len(latencies)
        print(f"  {size} subscribers, burst: {rounds} batches of {size} events (one per user): "
              f"{_quantiles(latencies)}" + (f" LOST {lost}" if lost else ""), flush=True)
        burst = list(latencies)
        sent.clear()
        latencies.clear()
        for n in range(steady):  # steady traffic: single events to users in turn, ~500/s
            await _commit(target, _events([ids[(n * 7919) % size]], sent), sent)
            await asyncio.sleep(0.002)
        await _settle(latencies, len(sent))
        print(f"  {size} subscribers, steady: {steady} single events at ~500/s: "
              f"{_quantiles(latencies)}", flush=True)
        await asyncio.gather(*(s.close() for s in subscribers))
        ordered = sorted(burst)
        if ordered and ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] > 1.0:
            print(f"  p99 above 1 s at {size} subscribers: stopping", flush=True)
            break


def _base_env(data_dir: str) -> dict[str, str]:
    return {"MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": data_dir,
            "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48)}


async def run_embedded(args: argparse.Namespace) -> None:
    import uvicorn

    from plugin.app import create_app
    from plugin.live.bus import current_bus
    from plugin.settings import load_settings

    data_dir = tempfile.mkdtemp(prefix="mb-bench-")
    port = _free_port()
    settings = load_settings({**_base_env(data_dir), "MAILBEACON_PORT": str(port)})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    while not server.started:
        await asyncio.sleep(0.05)

    target = Target()
    target.url = f"ws://127.0.0.1:{port}/graphql"

    async def run(coro: Awaitable[Any]) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))  # type: ignore[arg-type]

    async def wait_subscribed(count: int) -> None:
        while current_bus().subscriber_count() < count:
            await asyncio.sleep(0.01)

    target.run, target.wait_subscribed = run, wait_subscribed
    print(f"embedded (SQLite, in-process bus), server thread in this process on :{port}")
    try:
        await bench(target, args.events, args.sizes, args.rounds)
    finally:
        server.should_exit = True
        thread.join(15)


async def run_distributed(args: argparse.Namespace) -> None:
    import asyncpg
    from redis.asyncio import Redis

    from plugin.db import open_orm
    from plugin.runtime import start_runtime, stop_runtime
    from plugin.settings import load_settings

    name = f"mbbench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    prefix = f"mbbench:{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {**_base_env(tempfile.mkdtemp(prefix="mb-bench-")),
           "MAILBEACON_DATABASE_URL": f"{PG}/{name}", "MAILBEACON_REDIS_URL": REDIS,
           "MAILBEACON_REDIS_PREFIX": prefix, "MAILBEACON_PORT": str(port)}
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "plugin.cli"]
    subprocess.run([*cli, "migrate"], env=full_env, check=True, capture_output=True)
    serve = subprocess.Popen([*cli, "serve"], env=full_env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    redis = Redis.from_url(REDIS)
    settings = load_settings(env)
    try:
        async with open_orm(settings):
            runtime = start_runtime(settings, embedded_worker=False)
            target = Target()
            target.url = f"ws://127.0.0.1:{port}/graphql"

            async def run(coro: Awaitable[Any]) -> Any:
                return await coro

            async def wait_subscribed(count: int) -> None:
                # One Redis subscription per user channel per process: count channels.
                while len(await redis.pubsub_channels(f"{prefix}:live:user:*")) < count:
                    await asyncio.sleep(0.02)

            target.run, target.wait_subscribed = run, wait_subscribed
            for _ in range(200):
                try:
                    protocols = ["graphql-transport-ws"]
                    async with websockets.connect(target.url, subprotocols=protocols):  # type: ignore[arg-type]
                        break
                except OSError:
                    await asyncio.sleep(0.05)
            print(f"distributed (PostgreSQL + Redis), one `mailbeacon serve` subprocess on :{port}")
            await bench(target, args.events, args.sizes, args.rounds)
            runtime.broker.close()
            await stop_runtime(runtime)
    finally:
        serve.terminate()
        serve.wait(15)
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "distributed", "both"), default="both")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--subscribers", default="100,500,1000,2000")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    args.sizes = [int(n) for n in args.subscribers.split(",")]
    if args.mode == "both":
        # One process per mode: Tortoise binds model SQL to one dialect per process.
        for mode in ("embedded", "distributed"):
            argv = [a for a in sys.argv[1:] if not a.startswith("--mode")]
            if "--mode" in sys.argv:
                index = sys.argv.index("--mode")
                argv = sys.argv[1:index] + sys.argv[index + 2:]
            subprocess.run([sys.executable, __file__, "--mode", mode, *argv], check=False)
        return
    if args.mode == "embedded":
        asyncio.run(run_embedded(args))
    if args.mode == "distributed":
        from plugin.live.bus import close_publishers

        asyncio.run(run_distributed(args))
        close_publishers()


if __name__ == "__main__":
    main()
