"""Benchmark: live latency from the pixel request (or the commit hook) to a WebSocket subscriber.

Run: .venv/bin/python bench/bench_live.py [--source pixel|commit]
     [--mode embedded|distributed|both]
     pixel:  [--requests 2000] [--rate 200] [--subscribers 100,1000,2000]
             [--isolated 30 --gap 1.5] [--worker-threads 8] [--worker-timeout MS] [--keep-logs]
     commit: [--events 3000] [--subscribers 100,500,1000,2000] [--rounds 10]

--source pixel (the default): the clock starts when this process writes
``GET /t/o/{token}.gif`` (a real signed open pixel of a real sent email, a
Thunderbird user agent, a new client address per request via X-Forwarded-For
from the trusted 127.0.0.1, so every open is a counted HUMAN open that also
feeds the notification actor) and stops when a real ``websockets`` client reads
the graphql-transport-ws ``next`` message with that email's event. Events are
matched to requests per email, first sent first arrived. The servers are the
real commands, as subprocesses: embedded = ``mailbeacon serve`` on SQLite (spool
file + in-process workers); distributed = ``mailbeacon serve`` + ``mailbeacon
worker`` on a private PostgreSQL database and Redis prefix (``mailbeacon
migrate`` first; database and keys removed afterwards). The bench users and
their sent emails are written with the ORM before the servers start.

- latency: 1 subscriber, ``--requests`` pixel requests, each sent once the
  previous event arrived (no queueing): p50 / p99.
- isolated: 1 subscriber, ``--isolated`` requests ``--gap`` s apart, as real
  opens mostly arrive (after a quiet spell: idle polling shows here).
- N subscribers (one user each, one tracked email each, all on the one serve
  process): ``--requests`` pixel requests paced at ``--rate``/s (0: one after
  another, as fast as the pixel answers) to the users in turn. Before timing,
  every subscriber is probed until an event reached it. We stop when p99 > 1 s.
  The goal is p99 < 100 ms with 1,000 subscribers connected.

--source commit: the clock starts when the tracking pipeline would call
``plugin.tracking.pipeline.after_commit.after_events_committed`` (after its commit) and stops at
the subscriber, as above. Events are MACHINE opens, so no notification work
competes.

- latency: one subscriber, ``--events`` events one after another: p50 / p99.
- capacity: N connections (one user each) on one serve process.
  burst: every round one committed batch holds one event per user, i.e. all N
  subscribers are sent something at the same instant (the worst case);
  steady: 1,000 single events at ~500/s to users in turn while N are connected.
  p50 / p99 over every delivery; we stop when the burst p99 exceeds 1 s.

  Embedded: the app (uvicorn) runs in a thread of this process, on its own loop,
  with SQLite; the clients share this process (and its GIL), which makes the
  figures pessimistic. Distributed: one ``mailbeacon serve`` subprocess,
  PostgreSQL (a private database, dropped afterwards) and Redis (a private
  prefix); this process plays the worker that publishes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
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

    def __init__(self, on_event: Callable[[dict[str, Any]], None], query: str = QUERY) -> None:
        self.on_event = on_event
        self.query = query
        self.count = 0  # events received
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, token: str) -> None:
        self.ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await self.ws.send(json.dumps({"type": "connection_init",
                                       "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": self.query}}
        await self.ws.send(json.dumps(subscribe))
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("type") == "ping":
                await self.ws.send('{"type":"pong"}')
            elif message.get("type") == "next":
                self.count += 1
                self.on_event(message["payload"]["data"]["trackingEvents"])

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        await self.ws.close()


def _clock(sent: dict[str, float], latencies: list[float]) -> Callable[[dict[str, Any]], None]:
    def on_event(event: dict[str, Any]) -> None:
        started = sent.get(event["id"])
        if started is not None:
            latencies.append(time.perf_counter() - started)

    return on_event


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
    from plugin.runtime import current_runtime
    from plugin.tracking.pipeline.after_commit import after_events_committed

    started = time.perf_counter()
    for event in events:
        sent[event.event_id] = started
    await target.run(after_events_committed(events, current_runtime().settings))


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
    one = Subscriber(_clock(sent, latencies))
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
        subscribers = [Subscriber(_clock(sent, latencies)) for _ in range(size)]
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

    from plugin.composition import start_runtime, stop_runtime
    from plugin.db import open_orm
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


# --- from the pixel request (--source pixel) -------------------------------------------

PIXEL_QUERY = "subscription { trackingEvents { id emailId source } }"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"
PROBE_AGENT = "curl/8.5.0"  # MACHINE: probes publish but queue no notification work


class PixelHttp:
    """A bare HTTP/1.1 keep-alive client: the clock should not measure an HTTP library."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def connect(self, timeout: float = 30) -> None:
        deadline = time.perf_counter() + timeout
        while True:
            try:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                if await self.get("/t/o/warmup.gif", "192.0.2.1") == 200:
                    return
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"nothing answers on {self.host}:{self.port}")
            await asyncio.sleep(0.1)

    async def get(self, path: str, client_ip: str, agent: str = THUNDERBIRD) -> int:
        # The server trusts 127.0.0.1 as a proxy: every request is a different reader.
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"User-Agent: {agent}\r\nX-Forwarded-For: {client_ip}\r\n\r\n"
                          .encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        self.writer.close()


class PixelClock:
    """Matches arriving events to pixel requests: per email, first sent, first arrived."""

    def __init__(self) -> None:
        self.pending: dict[str, deque[float]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.sources: Counter[str] = Counter()
        self.arrived = asyncio.Event()
        self.lost = 0

    def on_event(self, event: dict[str, Any]) -> None:
        queue = self.pending.get(event["emailId"])
        if queue:  # probes (not timed) are never in ``pending``
            self.latencies.append(time.perf_counter() - queue.popleft())
            self.sources[event["source"]] += 1
        self.arrived.set()

    def outstanding(self) -> int:
        return sum(len(queue) for queue in self.pending.values())

    def reset(self) -> None:
        self.pending.clear()
        self.latencies.clear()
        self.sources.clear()
        self.lost = 0


class Mailbox:
    """A bench user: API token, one tracked email and its pixel path."""

    def __init__(self, token: str, email_id: int, path: str) -> None:
        self.token, self.email_id, self.path = token, str(email_id), path


async def _make_mailboxes(settings: Any, count: int) -> list[Mailbox]:
    """Users with one sent, tracked email each (as the sender leaves them), in one transaction."""
    from datetime import UTC, datetime, timedelta
    from urllib.parse import urlsplit

    from tortoise.transactions import in_transaction

    from plugin.accounts.service import create_user, issue_token
    from plugin.db import open_orm
    from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
    from plugin.tracking.edge.signer import urls_for

    accepted = datetime.now(UTC) - timedelta(hours=1)  # long past the scanner window
    boxes = []
    async with open_orm(settings), in_transaction():
        for _ in range(count):
            user = await create_user(f"bench-{uuid.uuid4().hex[:12]}@example.com")
            email = await SentEmail.create(
                user_id=user.id, subject="Bench", to_addresses=["reader@example.org"],
                status=EmailStatus.SENT, sent_at=accepted, track_opens=True)
            copy = await EmailCopy.create(
                email=email, public_id=secrets.token_hex(12), envelope_to=["reader@example.org"],
                track_opens=True, status=EmailStatus.SENT, accepted_at=accepted)
            url = urls_for(settings).open_url(bytes.fromhex(copy.public_id))
            boxes.append(Mailbox(await issue_token(user), email.id, urlsplit(url).path))
    return boxes


class PixelBench:
    """Pixel requests against a running server; events timed at real subscribers."""

    def __init__(self, port: int, boxes: list[Mailbox]) -> None:
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.http = PixelHttp("127.0.0.1", port)
        self.boxes = boxes
        self.clock = PixelClock()
        self.requests = 0
        self.quiet: Callable[[], Awaitable[None]] | None = None  # waits for an idle worker

    def _ip(self) -> str:
        self.requests += 1
        n = self.requests
        return f"198.{18 + (n >> 16) % 2}.{(n >> 8) % 256}.{n % 256}"  # 198.18.0.0/15

    async def _send(self, box: Mailbox, answers: list[float] | None) -> None:
        started = time.perf_counter()
        if answers is not None:
            self.clock.pending[box.email_id].append(started)
        status = await self.http.get(box.path, self._ip(),
                                     THUNDERBIRD if answers is not None else PROBE_AGENT)
        if status != 200:
            raise RuntimeError(f"pixel answered {status}")
        if answers is not None:
            answers.append(time.perf_counter() - started)

    async def _subscribe(self, count: int) -> list[Subscriber]:
        """Connect ``count`` subscribers (user i on box i), then probe until each got an event."""
        subscribers = [Subscriber(self.clock.on_event, PIXEL_QUERY) for _ in range(count)]
        for start in range(0, count, 100):
            await asyncio.gather(*(s.open(self.url, self.boxes[i].token)
                                   for i, s in enumerate(subscribers[start:start + 100], start)))
        for _ in range(20):  # a subscription is live once an event reached it
            silent = [i for i, s in enumerate(subscribers) if s.count == 0]
            if not silent:
                break
            for i in silent:
                await self._send(self.boxes[i], None)
            deadline = time.perf_counter() + 5
            while any(subscribers[i].count == 0 for i in silent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
        else:
            raise RuntimeError("some subscribers never received an event")
        await asyncio.sleep(1)  # let stragglers of the probes arrive before timing
        if self.quiet is not None:
            await self.quiet()
        return subscribers

    async def latency(self, requests: int) -> None:
        subscribers = await self._subscribe(1)
        self.clock.reset()
        answers: list[float] = []
        for _ in range(requests):
            self.clock.arrived.clear()
            await self._send(self.boxes[0], answers)
            try:
                while self.clock.outstanding():
                    await asyncio.wait_for(self.clock.arrived.wait(), 2)
                    self.clock.arrived.clear()
            except TimeoutError:  # lost: forget it, or it would be matched to the next event
                self.clock.lost += self.clock.outstanding()
                self.clock.pending.clear()
        self._report(f"1 subscriber, {requests} requests, each after the previous event arrived",
                     answers)
        await asyncio.gather(*(s.close() for s in subscribers))

    async def isolated(self, requests: int, gap: float) -> None:
        """Opens after a quiet spell, as most real opens arrive: idle polling shows here."""
        subscribers = await self._subscribe(1)
        self.clock.reset()
        answers: list[float] = []
        for _ in range(requests):
            await asyncio.sleep(gap)
            await self._send(self.boxes[0], answers)
        deadline = time.perf_counter() + 5
        while self.clock.outstanding() and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        self._report(f"1 subscriber, {requests} isolated requests, {gap:g} s apart", answers)
        await asyncio.gather(*(s.close() for s in subscribers))

    async def capacity(self, size: int, requests: int, rate: float) -> bool:
        """N subscribers, one user each; paced requests to users in turn. True if p99 <= 1 s."""
        subscribers = await self._subscribe(size)
        self.clock.reset()
        answers: list[float] = []
        started = time.perf_counter()
        for n in range(requests):
            if rate:
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            await self._send(self.boxes[(n * 7919) % size], answers)
        elapsed = time.perf_counter() - started
        deadline = time.perf_counter() + 15
        while self.clock.outstanding() and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        self._report(f"{size} subscribers (one user each), {requests} requests at "
                     f"{requests / elapsed:.0f}/s", answers)
        await asyncio.gather(*(s.close() for s in subscribers))
        ordered = sorted(self.clock.latencies)
        return bool(ordered) and ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] <= 1.0

    def _report(self, what: str, answers: list[float]) -> None:
        lost = self.clock.outstanding() + self.clock.lost
        print(f"  {what}:\n    pixel -> subscriber: {_quantiles(self.clock.latencies)}"
              + (f" LOST {lost}" if lost else "")
              + f"\n    pixel answer:        {_quantiles(answers)}"
              + f"\n    sources: {dict(self.clock.sources)}", flush=True)


async def _drain(prefix: str, timeout: float = 60, report: bool = True) -> None:
    """Wait for the worker's queues (notifications too) to empty, so shutdown cuts nothing."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < timeout:
            pending = 0
            async for key in redis.scan_iter(match=f"{prefix}:dramatiq:*.msgs"):
                if b".DQ." not in key:  # delayed (periodic) messages are never "done"
                    pending += await redis.hlen(key)
            if not pending:
                break
            await asyncio.sleep(0.2)
        if report:
            print(f"  worker queues: {pending} message(s) pending "
                  f"{time.perf_counter() - started:.1f} s after the last request", flush=True)
    finally:
        await redis.aclose()


def _worker_command(args: argparse.Namespace) -> list[str]:
    """``mailbeacon worker``; with --worker-timeout, Dramatiq's idle poll capped differently.

    Dramatiq's Redis consumer backs off exponentially while its queue is empty, up to
    the worker timeout (``mailbeacon worker`` passes 1,000 ms): a lone hit after a quiet
    spell waits for the next poll. The knob shows what a lower cap buys.
    """
    command = ["worker", "--threads", str(args.worker_threads)]
    if not args.worker_timeout:
        return [sys.executable, "-m", "plugin.cli", *command]
    patch = (
        "import sys, dramatiq, plugin.cli as cli\n"
        "Worker = dramatiq.Worker\n"
        f"dramatiq.Worker = lambda *a, **k: Worker(*a, **{{**k, 'worker_timeout': "
        f"{args.worker_timeout}}})\n"
        f"sys.exit(cli.main({command!r}))\n"
    )
    return [sys.executable, "-c", patch]


async def run_pixel(args: argparse.Namespace) -> None:
    """``mailbeacon serve`` (+ ``mailbeacon worker`` when distributed) as subprocesses."""
    from plugin.settings import load_settings

    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="mb-live-")
    env = {**_base_env(data_dir), "MAILBEACON_PORT": str(port),
           "MAILBEACON_TRUSTED_PROXIES": "127.0.0.1/32"}
    database = f"mblive_{uuid.uuid4().hex[:8]}"
    prefix = f"mblive:{uuid.uuid4().hex[:8]}"
    distributed = args.mode == "distributed"
    admin = None
    if distributed:
        import asyncpg

        admin = await asyncpg.connect(f"{PG}/postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        env.update({"MAILBEACON_DATABASE_URL": f"{PG}/{database}", "MAILBEACON_REDIS_URL": REDIS,
                    "MAILBEACON_REDIS_PREFIX": prefix})
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "plugin.cli"]
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    bench = None
    try:
        subprocess.run([*cli, "migrate"], env=full_env, check=True, capture_output=True)
        boxes = await _make_mailboxes(load_settings(env), max([1, *args.sizes]))
        commands = [[*cli, "serve"]]
        if distributed:
            commands.append(_worker_command(args))
        for command in commands:  # logs to files: a full pipe would block the server
            role = "serve" if command[-1] == "serve" else "worker"
            log = open(Path(data_dir) / f"{role}.log", "wb")  # noqa: SIM115
            processes.append((role, subprocess.Popen(command, env=full_env, stdout=log,
                                                     stderr=subprocess.STDOUT)))
            log.close()
        bench = PixelBench(port, boxes)
        if distributed:
            bench.quiet = lambda: _drain(prefix, report=False)
        await bench.http.connect()
        timeout = f", worker_timeout {args.worker_timeout} ms" if args.worker_timeout else ""
        print(f"{args.mode}: pixel request -> trackingEvents subscriber; `mailbeacon serve`"
              + (f" + `mailbeacon worker --threads {args.worker_threads}`{timeout} "
                 "(PostgreSQL, Redis)" if distributed else
                 " (SQLite, spool file, in-process workers)"), flush=True)
        if not args.no_latency:
            await bench.latency(args.requests)
        if args.isolated:
            await bench.isolated(args.isolated, args.gap)
        for size in args.sizes:
            if not await bench.capacity(size, args.requests, args.rate):
                print(f"  p99 above 1 s at {size} subscribers: stopping", flush=True)
                break
        if distributed:
            await _drain(prefix)
    finally:
        if bench is not None and hasattr(bench.http, "writer"):
            bench.http.close()
        for _, process in processes:
            process.terminate()
        for command_name, process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            text = (Path(data_dir) / f"{command_name}.log").read_text(errors="replace")
            noisy = [line for line in text.splitlines()
                     if " WARNING " in line or " ERROR " in line or "Traceback" in line]
            if noisy:
                print(f"  {command_name}: {len(noisy)} warning/error line(s), first: "
                      f"{noisy[0][:300]}", flush=True)
        if args.keep_logs:
            print(f"  logs kept in {data_dir}", flush=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
        if admin is not None:
            from bench_storage import drop_bench_storage

            await drop_bench_storage(admin, database, REDIS, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("pixel", "commit"), default="pixel",
                        help="start the clock at the pixel request or at the commit hook")
    parser.add_argument("--mode", choices=("embedded", "distributed", "both"), default="both")
    parser.add_argument("--events", type=int, default=3000, help="commit: latency events")
    parser.add_argument("--requests", type=int, default=2000, help="pixel: requests per phase")
    parser.add_argument("--rate", type=float, default=200,
                        help="pixel: requests/s with N subscribers (0: one after another)")
    parser.add_argument("--worker-threads", type=int, default=8, help="pixel, distributed")
    parser.add_argument("--worker-timeout", type=int, default=0,
                        help="pixel, distributed: override Dramatiq's worker_timeout (ms)")
    parser.add_argument("--no-latency", action="store_true", help="pixel: skip the latency run")
    parser.add_argument("--isolated", type=int, default=30,
                        help="pixel: isolated requests after the latency run (0: none)")
    parser.add_argument("--gap", type=float, default=1.5, help="pixel: seconds between those")
    parser.add_argument("--keep-logs", action="store_true", help="pixel: keep the server logs")
    parser.add_argument("--subscribers", default=None,
                        help="N list (default pixel 100,1000,2000; commit 100,500,1000,2000)")
    parser.add_argument("--rounds", type=int, default=10, help="commit: burst rounds")
    args = parser.parse_args()
    default = "100,1000,2000" if args.source == "pixel" else "100,500,1000,2000"
    args.sizes = [int(n) for n in (args.subscribers or default).split(",") if n]
    if args.mode == "both":
        # One process per mode: Tortoise binds model SQL to one dialect per process.
        for mode in ("embedded", "distributed"):
            argv = [a for a in sys.argv[1:] if not a.startswith("--mode")]
            if "--mode" in sys.argv:
                index = sys.argv.index("--mode")
                argv = sys.argv[1:index] + sys.argv[index + 2:]
            subprocess.run([sys.executable, __file__, "--mode", mode, *argv], check=False)
        return
    if args.source == "pixel":
        asyncio.run(run_pixel(args))
    elif args.mode == "embedded":
        asyncio.run(run_embedded(args))
    else:
        from plugin.live.bus import close_publishers

        asyncio.run(run_distributed(args))
        close_publishers()


if __name__ == "__main__":
    main()
