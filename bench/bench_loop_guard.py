"""Benchmark: does heavy sending or heavy querying hold the event loop? (issue 11, 9 and 10)

Run: .venv/bin/python bench/bench_loop_guard.py [--scenario sends|queries|both]
     [--pools inline,thread,process] [--duration 20] [--links 4900] [--senders 2]
     [--parallel 6]

The server is the real ``mailbeacon serve`` (granian, embedded mode: SQLite, the
in-process workers that instrument and send each copy, the outbox) as a
subprocess. A prober GETs ``/healthz`` and the open pixel (a garbage token: the
pixel answers from the token alone) one after the other, every 10 ms, and records
each answer's latency; first for 3 s with nothing else running (the baseline of
the same run), then while the load runs.

- sends: ``--senders`` clients post ``sendEmail`` back to back for ``--duration``
  seconds, each an HTML email with ``--links`` distinct tracked links (near the
  5,000 limit); the server runs once per ``--pools`` kind (MAILBEACON_CPU_POOL:
  ``inline`` = on the event loop as before, ``thread``, ``process``).
- queries: 100 sent emails with 500 events and 20 links each are written first;
  ``--parallel`` clients post at once, for ``--duration`` seconds, (a) 30 aliases
  of ``sentEmails(first: 100) { ... events(first: 500) ... links ... }`` (refused
  for their cost) and (b) a page just under the default cost limit (20 emails, 40
  events and the links each); response times are reported too.

Goal: ``/healthz`` p99 under 300 ms and never 1 s while the load runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEND = """mutation($input: SendEmailInput!) {
  sendEmail(input: $input) { email { id } errors { code message } } }"""
HEAVY = """sentEmails(first: 100) { edges { node { id subject
    events(first: 500) { id kind occurredAt source url } links { url clickCount } } } }"""
PIXEL = "/t/o/AAAAAAAAAAAAAAAAAAAA.gif"  # a garbage token: the pixel all the same
ALLOWED = """{ sentEmails(first: 20) { edges { node { id
    events(first: 40) { id kind occurredAt source } links { url } } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _html(links: int, salt: str) -> str:
    body = "".join(
        f'<p><a href="https://shop.example.com/p/{salt}/{i}?ref=mail&amp;x={i}">Product {i}</a>'
        "</p>"
        for i in range(links)
    )
    return f"<html><body><p>Hello</p>{body}</body></html>"


def _summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name}: n={len(ordered)} p50 {statistics.median(ordered) * 1000:.1f} ms  "
            f"p99 {p99 * 1000:.1f} ms  max {ordered[-1] * 1000:.1f} ms  "
            f">=1s: {sum(v >= 1 for v in ordered)}")


class Prober:
    """GET /healthz then the pixel, every 10 ms, each on its own connection-kept client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.health: list[float] = []
        self.pixel: list[float] = []
        self.running = True

    async def run(self) -> None:
        while self.running:
            for path, sink in (("/healthz", self.health), (PIXEL, self.pixel)):
                started = time.perf_counter()
                await self.client.get(path)
                sink.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)


async def _probe(client: Any, seconds: float) -> Prober:
    prober = Prober(client)
    task = asyncio.create_task(prober.run())
    await asyncio.sleep(seconds)
    prober.running = False
    await task
    return prober


class Server:
    def __init__(self, env: dict[str, str], data_dir: str) -> None:
        self.env, self.data_dir = env, data_dir
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Server:
        full_env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        log = open(Path(self.data_dir) / "serve.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve"],
                                        env=full_env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        import httpx

        url = f"http://127.0.0.1:{self.env['MAILBEACON_PORT']}"
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("mailbeacon serve did not start")

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _prepare(env: dict[str, str], *, seed_events: bool) -> str:
    """Migrate, create the bench user (and its emails); return its API token."""
    from plugin.accounts.service import create_user, issue_token
    from plugin.db import migrate, open_orm
    from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
    from plugin.settings import load_settings
    from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

    settings = load_settings(env)
    await migrate(settings)
    async with open_orm(settings):
        user = await create_user(f"bench-{uuid.uuid4().hex[:6]}@example.com", name="Bench")
        token = await issue_token(user)
        if seed_events:
            start = datetime.now(UTC) - timedelta(days=1)
            for n in range(100):
                email = await SentEmail.create(
                    user_id=user.id, subject=f"Offer {n}", to_addresses=["ada@example.org"],
                    status=EmailStatus.SENT, sent_at=start, track_opens=True, track_links=True)
                copy = await EmailCopy.create(
                    email=email, public_id=secrets.token_hex(12), envelope_to=["ada@example.org"],
                    track_opens=True, track_links=True, status=EmailStatus.SENT)
                await TrackedLink.bulk_create([
                    TrackedLink(email=email, position=i, url=f"https://example.com/{n}/{i}")
                    for i in range(1, 21)])
                await TrackingEvent.bulk_create([
                    TrackingEvent(
                        event_id=uuid.uuid4(), user_id=user.id, email_id=email.id,
                        copy_id=copy.id, kind=EventKind.OPEN, source=EventSourceField.HUMAN,
                        rule="human", occurred_at=start + timedelta(seconds=i), method="GET",
                        client_hash="h")
                    for i in range(500)])
    return token


def _env(data_dir: str, pool: str) -> dict[str, str]:
    return {"MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": data_dir,
            "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
            "MAILBEACON_PORT": str(_free_port()), "MAILBEACON_CPU_POOL": pool}


async def bench_sends(args: argparse.Namespace, pool: str) -> None:
    import httpx

    data_dir = tempfile.mkdtemp(prefix="mb-loop-")
    env = _env(data_dir, pool)
    token = await _prepare(env, seed_events=False)
    url = f"http://127.0.0.1:{env['MAILBEACON_PORT']}"
    async with Server(env, data_dir), \
            httpx.AsyncClient(base_url=url, timeout=120) as probe_client, \
            httpx.AsyncClient(base_url=url, timeout=120,
                              headers={"Authorization": f"Bearer {token}"}) as client:
        idle = await _probe(probe_client, 3)
        send_times: list[float] = []
        stop_at = time.perf_counter() + args.duration

        async def sender(k: int) -> None:
            i = 0
            while time.perf_counter() < stop_at:
                variables = {"input": {"to": [f"r{k}.{i}@example.com"], "subject": f"S {k}.{i}",
                                       "html": _html(args.links, f"{k}-{i}"),
                                       "trackOpens": True, "trackLinks": True}}
                started = time.perf_counter()
                answer = (await client.post("/graphql", json={"query": SEND,
                                                              "variables": variables})).json()
                send_times.append(time.perf_counter() - started)
                assert answer["data"]["sendEmail"]["errors"] == [], answer
                i += 1

        prober = Prober(probe_client)
        probe = asyncio.create_task(prober.run())
        await asyncio.gather(*(sender(k) for k in range(args.senders)))
        prober.running = False
        await probe
        outbox = Path(data_dir) / "outbox"
        sent = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
    print(f"sends, MAILBEACON_CPU_POOL={pool}: {len(send_times)} sendEmail of {args.links} "
          f"links by {args.senders} clients back to back in {args.duration:.0f} s "
          f"({sent} copies in the outbox when the load stopped)")
    print("  idle     " + _summary("/healthz", idle.health))
    print("  idle     " + _summary("pixel   ", idle.pixel))
    print("  loaded   " + _summary("/healthz", prober.health))
    print("  loaded   " + _summary("pixel   ", prober.pixel))
    print("  " + _summary("sendEmail answer", send_times), flush=True)


async def bench_queries(args: argparse.Namespace) -> None:
    import httpx

    data_dir = tempfile.mkdtemp(prefix="mb-loop-")
    env = _env(data_dir, "process")
    print("queries: writing 100 emails x (500 events, 20 links)...", flush=True)
    token = await _prepare(env, seed_events=True)
    url = f"http://127.0.0.1:{env['MAILBEACON_PORT']}"
    aliased = "{ " + " ".join(f"a{i}: {HEAVY}" for i in range(30)) + " }"
    async with Server(env, data_dir), \
            httpx.AsyncClient(base_url=url, timeout=120) as probe_client, \
            httpx.AsyncClient(base_url=url, timeout=120,
                              headers={"Authorization": f"Bearer {token}"}) as client:
        idle = await _probe(probe_client, 3)
        print("  idle     " + _summary("/healthz", idle.health))
        for label, query in (("30 aliases of 100 emails x 500 events", aliased),
                             ("a page under the cost limit (20 x 40 events)", ALLOWED)):
            times: list[float] = []
            codes: dict[str, int] = {}
            stop_at = time.perf_counter() + args.duration

            async def asker() -> None:
                while time.perf_counter() < stop_at:  # noqa: B023
                    started = time.perf_counter()
                    body = (await client.post("/graphql", json={"query": query})).json()  # noqa: B023
                    times.append(time.perf_counter() - started)  # noqa: B023
                    code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code", "ok")
                    codes[code] = codes.get(code, 0) + 1  # noqa: B023

            prober = Prober(probe_client)
            probe = asyncio.create_task(prober.run())
            await asyncio.gather(*(asker() for _ in range(args.parallel)))
            prober.running = False
            await probe
            print(f"  {label}, {args.parallel} at once for {args.duration:.0f} s: answers {codes}")
            print("    " + _summary("response", times))
            print("    loaded " + _summary("/healthz", prober.health), flush=True)


async def main_async(args: argparse.Namespace) -> None:
    if args.scenario in ("sends", "both"):
        for pool in args.pools.split(","):
            await bench_sends(args, pool)
    if args.scenario in ("queries", "both"):
        await bench_queries(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", choices=("sends", "queries", "both"), default="both")
    parser.add_argument("--pools", default="inline,thread,process")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--links", type=int, default=4900)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=6)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
