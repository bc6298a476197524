"""Benchmark: `serve`'s CPU per live event delivered to a subscriber, this tree against a baseline.

Run: .venv/bin/python bench/bench_live_cpu.py [--baseline-ref main] [--events 20000]
     [--rate 2000] [--batch 20] [--rounds 2] [--queries ids,card,full]

Two ``mailbeacon serve`` processes (distributed mode: one PostgreSQL database and one
Redis prefix of the run's own, removed afterwards) run side by side: one from this
tree, one from ``--baseline-ref`` (``git archive`` into a temporary folder, same
virtualenv). One user; each server has one ``trackingEvents`` subscriber of that user
(a ``websockets`` client in this process), so every event published reaches both.
This process plays the worker: it publishes ``--events`` tracking events for that user
at ``--rate``/s in Redis messages of ``--batch`` (as the pipeline publishes a recorded
batch), then waits until both subscribers received all of them, and checks that both
received the same frames. Per server: CPU time (utime + stime of the server and its
granian worker process, /proc) over the phase, divided by the events delivered, minus
what the server spends idle over the same time (measured before). CPU time, not wall
time: the machine is shared. Each query's phase runs ``--rounds`` times.
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
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bench_storage import drop_bench_storage

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("MAILBEACON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("MAILBEACON_BENCH_REDIS", "redis://127.0.0.1:6379/0")
TICKS = os.sysconf("SC_CLK_TCK")
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"
QUERIES = {
    "ids": "subscription { trackingEvents { id } }",
    "card": "subscription { trackingEvents { id emailId kind occurredAt source duplicate } }",
    "full": "subscription { trackingEvents { id emailId kind occurredAt source url recipient "
            "duplicate rule description client { name version os device proxy } } }",
    "fragment": "subscription { trackingEvents { ...E } } "
                "fragment E on TrackingEvent { id source }",
}


def _cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and its children (granian's worker process)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


class Server:
    def __init__(self, name: str, root: Path, env: dict[str, str]) -> None:
        self.name, self.root = name, root
        self.port = _free_port()
        self.env = {**env, "MAILBEACON_PORT": str(self.port), "PYTHONPATH": str(root)}
        self.url = f"ws://127.0.0.1:{self.port}/graphql"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(Path(self.env["MAILBEACON_DATA_DIR"]) / f"{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plugin.cli", "serve"], cwd=self.root, env=self.env,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    async def wait_ready(self) -> None:
        for _ in range(400):
            try:
                async with websockets.connect(self.url, subprotocols=["graphql-transport-ws"]):  # type: ignore[list-item]
                    return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} never answered on {self.url}")

    def cpu(self) -> int:
        assert self.process is not None
        return _cpu_ticks(self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Subscriber:
    """One connection, one subscription; keeps the raw ``next`` frames it read."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, token: str, query: str) -> None:
        self.ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await self.ws.send(json.dumps({"type": "connection_init",
                                       "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe",
                                       "payload": {"query": query}}))
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            if '"type":"ping"' in str(raw).replace(" ", ""):
                await self.ws.send('{"type":"pong"}')
            else:
                self.frames.append(str(raw))

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        await self.ws.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _messages(user_id: int, count: int, start: int) -> list[tuple[int, dict[str, Any]]]:
    from plugin.hooks import RecordedEvent
    from plugin.tracking.pipeline.after_commit import event_message

    now = datetime.now(UTC)
    items = []
    for n in range(start, start + count):
        event = RecordedEvent(event_id=str(uuid.uuid4()), user_id=user_id, email_id=7,
                              kind="OPEN", source="HUMAN", counted=True, url=None,
                              recipient=None)
        row = {"id": n, "occurred_at": now, "duplicate": n % 5 == 0, "rule": "human",
               "user_agent": THUNDERBIRD}
        items.append((user_id, event_message(event, row)))
    return items


async def _publish(settings: Any, user_id: int, events: int, rate: float, batch: int,
                   first: int) -> None:
    from plugin.live.bus import publish

    started = time.perf_counter()
    for n, start in enumerate(range(0, events, batch)):
        await asyncio.sleep(max(0.0, started + n * batch / rate - time.perf_counter()))
        await publish(settings, _messages(user_id, min(batch, events - start), first + start))


async def _phase(servers: list[Server], token: str, query: str, args: argparse.Namespace,
                 settings: Any, user_id: int, first: int, redis: Any, channel: str) -> list[float]:
    subscribers = [Subscriber() for _ in servers]
    for server, subscriber in zip(servers, subscribers, strict=True):
        await subscriber.open(server.url, token, query)
    while (await redis.pubsub_numsub(channel))[0][1] < len(servers):
        await asyncio.sleep(0.02)
    await asyncio.sleep(1)
    idle_start = [server.cpu() for server in servers]
    idle_wall = time.perf_counter()
    await asyncio.sleep(2)
    idle_rate = [(server.cpu() - before) / (time.perf_counter() - idle_wall)
                 for server, before in zip(servers, idle_start, strict=True)]
    before = [server.cpu() for server in servers]
    wall = time.perf_counter()
    await _publish(settings, user_id, args.events, args.rate, args.batch, first)
    deadline = time.perf_counter() + 60
    while (any(len(s.frames) < args.events for s in subscribers)
           and time.perf_counter() < deadline):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - wall
    used = [server.cpu() - start for server, start in zip(servers, before, strict=True)]
    for subscriber in subscribers:
        await subscriber.close()
    received = [len(s.frames) for s in subscribers]
    if len(set(map(tuple, (s.frames for s in subscribers)))) != 1:  # type: ignore[arg-type]
        print(f"    FRAMES DIFFER: {[s.frames[:1] for s in subscribers]}", flush=True)
    per_event = []
    for server, ticks, idle, count in zip(servers, used, idle_rate, received, strict=True):
        busy = max(0.0, ticks - idle * elapsed)
        per_event.append(busy / TICKS / max(count, 1) * 1e6)
        print(f"    {server.name:>8}: {count} events, {ticks / TICKS:.2f} s CPU in "
              f"{elapsed:.1f} s (idle {idle / TICKS * elapsed:.2f} s): "
              f"{per_event[-1]:.1f} us/event", flush=True)
    return per_event


async def run(args: argparse.Namespace) -> None:
    import asyncpg
    from redis.asyncio import Redis

    from plugin.accounts.service import create_user, issue_token
    from plugin.db import open_orm
    from plugin.live.bus import channel_name, close_publishers
    from plugin.settings import load_settings

    database = f"mbbench_{uuid.uuid4().hex[:8]}"
    prefix = f"mbbench:{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    env = {"MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": tempfile.mkdtemp(prefix="mb-cpu-"),
           "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
           "MAILBEACON_DATABASE_URL": f"{PG}/{database}", "MAILBEACON_REDIS_URL": REDIS,
           "MAILBEACON_REDIS_PREFIX": prefix}
    baseline_dir = Path(tempfile.mkdtemp(prefix="mb-cpu-base-"))
    servers: list[Server] = []
    redis = Redis.from_url(REDIS)
    try:
        archive = subprocess.run(["git", "archive", args.baseline_ref], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(baseline_dir)], input=archive, check=True)
        full_env = {**os.environ, **env}
        subprocess.run([sys.executable, "-m", "plugin.cli", "migrate"], cwd=ROOT,
                       env={**full_env, "PYTHONPATH": str(ROOT)}, check=True,
                       capture_output=True)
        settings = load_settings(env)
        async with open_orm(settings):
            user = await create_user(f"cpu-{uuid.uuid4().hex[:12]}@example.com")
            token = await issue_token(user)
        servers = [Server("this", ROOT, full_env),
                   Server(f"base:{args.baseline_ref}"[:14], baseline_dir, full_env)]
        for server in servers:
            server.start()
        for server in servers:
            await server.wait_ready()
        print(f"serve CPU per delivered event: this tree vs {args.baseline_ref}; "
              f"{args.events} events at {args.rate:g}/s in batches of {args.batch}", flush=True)
        first = 1
        for name in args.queries.split(","):
            results: list[list[float]] = []
            for round_ in range(args.rounds):
                print(f"  {name} round {round_ + 1}: {QUERIES[name]}", flush=True)
                results.append(await _phase(servers, token, QUERIES[name], args, settings,
                                            user.id, first, redis,
                                            channel_name(settings, user.id)))
                first += args.events
            this = sum(r[0] for r in results) / len(results)
            base = sum(r[1] for r in results) / len(results)
            print(f"  {name}: {base:.1f} -> {this:.1f} us/event ({this / base:.2f}x)", flush=True)
    finally:
        for server in servers:
            server.stop()
        close_publishers()
        await redis.aclose()
        for server in servers:
            text = (Path(env["MAILBEACON_DATA_DIR"]) / f"{server.port}.log").read_text()
            noisy = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line]
            if noisy:
                print(f"  {server.name}: {len(noisy)} warning(s), first: {noisy[0][:300]}")
        subprocess.run(["rm", "-rf", str(baseline_dir), env["MAILBEACON_DATA_DIR"]], check=False)
        await drop_bench_storage(admin, database, REDIS, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", default="ids,card,full")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
