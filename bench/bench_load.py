"""Open-loop load ladder: counted opens per second and lag, mailbeacon against a naive tracker.

Run: .venv/bin/python bench/bench_load.py [--targets distributed,embedded,naive]
        [--shapes spread,hot] [--rates 50,200,500,1000,2000,5000] [--duration 15]
        [--drain-cap 20] [--lone 0 --quiet 60] [--no-subscriber]

For every target and shape (each in its own process), the servers start pinned to
CPU 0 (``taskset -c 0``) and this load generator pins itself to CPU 1; PostgreSQL
and Redis are not pinned. Targets:

- ``distributed``: ``mailbeacon serve`` + ``mailbeacon worker`` (PostgreSQL, Redis;
  a private database and Redis prefix, removed afterwards);
- ``embedded``: ``mailbeacon serve`` alone (SQLite, in-process workers);
- ``naive``: bench/naive_tracker.py on uvicorn (one INSERT + one UPDATE per hit in
  PostgreSQL before the answer);
- ``bare`` (not in the default list): bench/bare_gif_app.py on uvicorn, no storage:
  what this machine and this generator manage at the moment (lag = answer time).

Shapes: ``spread`` (hits over 1,000 emails of one user, one copy each) and ``hot``
(every hit on the 100 per-recipient copies of one email: one row's figures).

For each rate, hits go out open loop for ``--duration`` s (bench/loadgen.py), each
from its own client address (X-Forwarded-For, trusted from 127.0.0.1), a
Thunderbird user agent: every hit is a counted human open. Reported: answered
(200s), answer p50/p99 (from when the hit was due), counted, p50/p99 lag from the
hit being due to it being counted (the user's summed ``open_count``, sampled
every 20 ms) and to a trackingEvents subscriber (one WebSocket, the owner), and
the time to drain (last hit due -> everything answered counted), and the CPU time
the pinned processes (and their children) used per answered hit over the rung: the
core's budget per hit, which bounds the sustainable rate whatever the machine's
load (``--no-subscriber``: without the live subscriber). The ladder stops
for a target and shape once a rate does not drain within ``--drain-cap`` s.

``--lone N --quiet S`` (distributed and embedded): afterwards, N single opens,
each after S quiet seconds, timed to the subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bench_storage import drop_bench_storage
from loadgen import OpenLoop, Poller, SubscriberClock, lags, pixel_request, summary

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("MAILBEACON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("MAILBEACON_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SERVER_CPU, LOAD_CPU = "0", 1
# Folders put before the project on the servers' PYTHONPATH (bench_soak --trace: memtrace).
EXTRA_PYTHONPATH: list[str] = []
START_TIMEOUT = 60.0  # seconds for a server to listen (bench_soak --trace: much slower)
LINK = "https://shop.example.com/p/1?ref=mail"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_port(port: int, timeout: float | None = None) -> None:
    deadline = time.monotonic() + (START_TIMEOUT if timeout is None else timeout)
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Setup:
    """A running target: its pixel paths, how to read its counted total, how to stop it."""

    paths: list[str]
    port: int
    read_total: Callable[[], Awaitable[int]]
    token: str | None = None  # the owner's API token (subscriber); None: no live events
    answered_box: list[int] | None = None  # bare: nothing is counted, answers stand in
    cleanup: list[Callable[[], Awaitable[None]]]
    processes: list[tuple[str, subprocess.Popen[bytes]]]
    log_dir: Path

    def __init__(self) -> None:
        self.cleanup, self.processes = [], []
        self.log_dir = Path(tempfile.mkdtemp(prefix="mb-load-"))

    def start(self, role: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{role}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(["taskset", "-c", SERVER_CPU, *command], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append((role, process))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the pinned processes and their children."""
        from soak_probe import process_tree

        ticks = 0
        for _, process in self.processes:
            for pid in process_tree(process.pid):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    fields = stat[stat.rindex(")") + 2:].split()
                    ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        from soak_probe import process_tree

        # granian's worker processes outlived a parent that was stopped while they were
        # busy: stop every descendant too, or they keep writing after the cleanup below.
        descendants = {pid for _, process in self.processes
                       for pid in process_tree(process.pid)[1:]}
        for _, process in self.processes:
            process.terminate()
        for role, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            text = (self.log_dir / f"{role}.log").read_text(errors="replace")
            noisy = [line for line in text.splitlines()
                     if " ERROR " in line or "Traceback" in line or "CRITICAL" in line]
            if noisy:
                print(f"    {role}: {len(noisy)} error line(s), first: {noisy[0][:200]}",
                      file=sys.stderr)
        for signal_number in (signal.SIGTERM, signal.SIGKILL):
            alive = [pid for pid in descendants if Path(f"/proc/{pid}").exists()]
            if alive:
                print(f"    {len(alive)} process(es) outlived their parent: "
                      f"{signal.Signals(signal_number).name}", file=sys.stderr)
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal_number)
            deadline = time.monotonic() + 10
            while alive and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                alive = [pid for pid in alive if Path(f"/proc/{pid}").exists()]
        for step in reversed(self.cleanup):
            await step()
        shutil.rmtree(self.log_dir, ignore_errors=True)


async def _make_emails(settings: Any, shape: str, clicks: list[str] | None = None
                       ) -> tuple[str, int, list[str]]:
    """One user and its sent, tracked emails (spread: 1,000 x 1 copy; hot: 1 x 100 copies).

    ``clicks``, if given, receives a tracked link's click path per copy.
    """
    from datetime import UTC, datetime, timedelta
    from urllib.parse import urlsplit

    from tortoise.transactions import in_transaction

    from plugin.accounts.service import create_user, issue_token
    from plugin.db import open_orm
    from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
    from plugin.tracking.edge.signer import urls_for

    accepted = datetime.now(UTC) - timedelta(hours=1)  # long past the scanner window
    emails, copies = (1000, 1) if shape == "spread" else (1, 100)
    urls = urls_for(settings)
    paths = []
    async with open_orm(settings), in_transaction():
        user = await create_user(f"load-{uuid.uuid4().hex[:12]}@example.com")
        for _ in range(emails):
            readers = [f"reader{i}@example.org" for i in range(copies)]
            email = await SentEmail.create(
                user_id=user.id, subject="Load", to_addresses=readers, status=EmailStatus.SENT,
                sent_at=accepted, track_opens=True, track_links=clicks is not None,
                track_per_recipient=copies > 1)
            if clicks is not None:
                await TrackedLink.create(email=email, position=1, url=LINK)
            for reader in readers:
                copy = await EmailCopy.create(
                    email=email, public_id=secrets.token_hex(12), envelope_to=[reader],
                    recipient=reader if copies > 1 else None, track_opens=True,
                    status=EmailStatus.SENT, accepted_at=accepted)
                public_id = bytes.fromhex(copy.public_id)
                paths.append(urlsplit(urls.open_url(public_id)).path)
                if clicks is not None:
                    clicks.append(urlsplit(urls.click_url(public_id, 1, LINK)).path)
        token = await issue_token(user)
    return token, user.id, paths


async def setup_ours(mode: str, shape: str, worker_threads: int,
                     clicks: list[str] | None = None) -> Setup:
    setup = Setup()
    try:
        await _start_ours(setup, mode, shape, worker_threads, clicks)
    except BaseException:
        await setup.stop()
        raise
    return setup


async def _start_ours(setup: Setup, mode: str, shape: str, worker_threads: int,
                      clicks: list[str] | None) -> None:
    from plugin.settings import load_settings

    setup.port = _free_port()
    env = {"MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": str(setup.log_dir),
           "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48), "MAILBEACON_PORT": str(setup.port),
           "MAILBEACON_TRUSTED_PROXIES": "127.0.0.1/32",
           # A log line per hit would be the bench's bottleneck, not the tracker's.
           "MAILBEACON_ACCESS_LOG": "false"}
    if mode == "distributed":
        import asyncpg

        database, prefix = f"mbload_{uuid.uuid4().hex[:8]}", f"mbload:{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(f"{PG}/postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')

        async def drop() -> None:
            await drop_bench_storage(admin, database, REDIS, prefix)

        setup.cleanup.append(drop)
        env.update({"MAILBEACON_DATABASE_URL": f"{PG}/{database}", "MAILBEACON_REDIS_URL": REDIS,
                    "MAILBEACON_REDIS_PREFIX": prefix})
    full_env = {**os.environ, **env,
                "PYTHONPATH": os.pathsep.join([*EXTRA_PYTHONPATH, str(ROOT)])}
    cli = [sys.executable, "-m", "plugin.cli"]
    subprocess.run([*cli, "migrate"], env=full_env, check=True, capture_output=True)
    settings = load_settings(env)
    setup.token, user_id, setup.paths = await _make_emails(settings, shape, clicks)
    setup.start("serve", [*cli, "serve"], full_env)
    if mode == "distributed":
        setup.start("worker", [*cli, "worker", "--threads", str(worker_threads)], full_env)
        pg = await asyncpg.connect(f"{PG}/{database}")
        setup.cleanup.append(pg.close)

        async def read_pg() -> int:
            return int(await pg.fetchval(
                "SELECT coalesce(sum(open_count), 0) FROM mb_sent_email WHERE user_id = $1",
                user_id))

        setup.read_total = read_pg
    else:
        path = settings.database_url.removeprefix("sqlite://")

        def read_sqlite() -> int:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                row = conn.execute("SELECT coalesce(sum(open_count), 0) FROM mb_sent_email "
                                   "WHERE user_id = ?", (user_id,)).fetchone()
            return int(row[0])

        async def read_embedded() -> int:
            return await asyncio.to_thread(read_sqlite)

        setup.read_total = read_embedded
    await _wait_port(setup.port)


async def setup_naive(shape: str) -> Setup:
    import asyncpg

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from naive_tracker import create_tables

    setup = Setup()
    setup.port = _free_port()
    database = f"mbnaive_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    pg = await asyncpg.connect(f"{PG}/{database}")
    emails = 1000 if shape == "spread" else 1
    await create_tables(pg, emails)

    async def drop() -> None:
        await pg.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()

    setup.cleanup.append(drop)
    env = {**os.environ, "NAIVE_DSN": f"{PG}/{database}"}
    setup.start("naive", [sys.executable, "-m", "uvicorn", "naive_tracker:app", "--app-dir",
                          str(Path(__file__).parent), "--port", str(setup.port), "--loop",
                          "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
                          "warning"], env)
    setup.paths = [f"/t/o/{i}.gif" for i in range(1, emails + 1)]

    async def read_naive() -> int:
        return int(await pg.fetchval("SELECT coalesce(sum(open_count), 0) FROM naive_email"))

    setup.read_total = read_naive
    await _wait_port(setup.port)
    return setup


async def setup_bare() -> Setup:
    """The machine's ceiling at this moment: bench/bare_gif_app.py (no storage) on uvicorn."""
    setup = Setup()
    setup.port = _free_port()
    setup.start("bare", [sys.executable, "-m", "uvicorn", "bare_gif_app:app", "--app-dir",
                         str(Path(__file__).parent), "--port", str(setup.port), "--loop",
                         "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
                         "warning"], {**os.environ, "PYTHONPATH": str(ROOT)})
    setup.paths = ["/t/o/x.gif"]
    answered = [0]

    async def read_answered() -> int:
        return answered[0]

    setup.read_total = read_answered
    setup.answered_box = answered
    await _wait_port(setup.port)
    return setup


async def _settle(poller: Poller, expected: int, cap: float) -> float:
    """Wait until the counted total reaches ``expected``; seconds waited (inf: cap reached)."""
    started = time.monotonic()
    while poller.latest() < expected:
        if time.monotonic() - started > cap:
            return float("inf")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def ladder(setup: Setup, args: argparse.Namespace) -> list[dict[str, Any]]:
    load = OpenLoop("127.0.0.1", setup.port)
    await load.warm(64)
    poller = Poller(setup.read_total)
    poller.start()
    subscriber = SubscriberClock() if setup.token and not args.no_subscriber else None
    try:
        return await _steps(setup, args, load, poller, subscriber)
    finally:
        await poller.stop()
        if subscriber:
            await subscriber.close()
        load.close()


async def _steps(setup: Setup, args: argparse.Namespace, load: OpenLoop, poller: Poller,
                 subscriber: SubscriberClock | None) -> list[dict[str, Any]]:
    host = f"127.0.0.1:{setup.port}"
    if subscriber and setup.token:
        await subscriber.open(f"ws://{host}/graphql", setup.token)
    # Warm up: a few hits until they are counted (and seen live), not timed.
    hits = await load.run(20, 1, pixel_request(setup.paths, host), first=10**6)
    if setup.answered_box is not None:
        setup.answered_box[0] += len(hits.answered())
    if await _settle(poller, len(hits.answered()), 60) == float("inf"):
        raise RuntimeError("the warm-up hits were never counted")
    await asyncio.sleep(1)
    results, first = [], 0
    for rate in args.rates:
        base = poller.latest()
        seen = len(subscriber.arrivals) if subscriber else 0
        cpu_before = setup.cpu_seconds()
        hits = await load.run(rate, args.duration, pixel_request(setup.paths, host), first)
        first += len(hits.due)
        answered = hits.answered()
        if setup.answered_box is not None:
            setup.answered_box[0] += len(answered)
        loop_now = time.perf_counter()
        end = max(hits.due)
        drain = await _settle(poller, base + len(answered), args.drain_cap)
        drain_s = drain + (loop_now - end) if drain != float("inf") else drain
        if subscriber:  # live events follow the commit: give them a moment
            deadline = time.monotonic() + 5
            while len(subscriber.arrivals) < seen + len(answered) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        cpu_used = setup.cpu_seconds() - cpu_before
        due = [hits.due[i] for i in answered]
        result = {
            "rate": rate, "sent": len(hits.due), "answered": len(answered),
            "answer": summary(hits.answer_times()),
            "counted": poller.latest() - base,
            "counted_lag": summary(hits.answer_times()) if setup.answered_box is not None
            else summary(lags(due, lambda k, b=base: poller.reached(b + k))),
            "live_lag": summary(lags(due, lambda k, s=seen: subscriber.reached(s + k)))
            if subscriber else None,
            "drain_s": drain_s, "connections": load.connections,
            # The pinned core's work per hit, from the first hit to drained (and seen live).
            "cpu_us_per_hit": cpu_used / max(1, len(answered)) * 1e6,
        }
        results.append(result)
        print(_row(args.label, result), flush=True)
        if drain == float("inf"):
            print(f"    did not drain within {args.drain_cap:g} s: stopping this ladder",
                  flush=True)
            break
        await asyncio.sleep(1)
    if args.lone and subscriber:
        results.append(await lone_opens(load, subscriber, setup, args))
    return results


async def lone_opens(load: OpenLoop, subscriber: SubscriberClock, setup: Setup,
                     args: argparse.Namespace) -> dict[str, Any]:
    """Single opens after quiet spells, timed from when each was due to the subscriber."""
    host = f"127.0.0.1:{setup.port}"
    times = []
    for i in range(args.lone):
        await asyncio.sleep(args.quiet)
        seen = len(subscriber.arrivals)
        hits = await load.run(1, 1, pixel_request(setup.paths, host), first=2 * 10**6 + i)
        deadline = time.monotonic() + 10
        while len(subscriber.arrivals) <= seen and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        times.append(subscriber.reached(seen + 1) - hits.due[0])
    result = {"lone": args.lone, "quiet_s": args.quiet, "live_lag": summary(times),
              "max_ms": max(times) * 1000}
    print(f"  {args.label}: {args.lone} lone opens after {args.quiet:g} s quiet: "
          f"p50 {result['live_lag']['p50_ms']:.1f} ms, max {result['max_ms']:.1f} ms", flush=True)
    return result


def _ms(part: dict[str, Any] | None) -> str:
    if not part:
        return "—"
    missing = f" ({part['missing']} missing)" if part["missing"] else ""
    return f"{part['p50_ms']:.0f}/{part['p99_ms']:.0f}{missing}"


def _row(label: str, r: dict[str, Any]) -> str:
    return (f"  {label} {r['rate']:>5}/s: answered {r['answered']}/{r['sent']}, answer p50/p99 "
            f"{_ms(r['answer'])} ms, counted {r['counted']}, lag to counted {_ms(r['counted_lag'])}"
            f" ms, to subscriber {_ms(r['live_lag'])} ms, drain {r['drain_s']:.1f} s, "
            f"pinned CPU {r['cpu_us_per_hit']:.0f} µs/hit")


async def run_one(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {LOAD_CPU})
    target, shape = args.one.split(":")
    if target == "naive":
        setup = await setup_naive(shape)
    elif target == "bare":
        setup = await setup_bare()
    else:
        setup = await setup_ours(target, shape, args.worker_threads)
    try:
        results = await ladder(setup, args)
    finally:
        await setup.stop()
    print("RESULT " + json.dumps({"target": target, "shape": shape, "results": results},
                                 default=str), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", default="distributed,embedded,naive")
    parser.add_argument("--shapes", default="spread,hot")
    parser.add_argument("--rates", default="50,200,500,1000,2000,5000")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--drain-cap", type=float, default=20)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--lone", type=int, default=0, help="lone opens after the ladder")
    parser.add_argument("--quiet", type=float, default=60, help="seconds before each lone open")
    parser.add_argument("--no-subscriber", action="store_true",
                        help="no trackingEvents subscriber (what live delivery costs the server)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    if args.one:
        args.label = args.one
        import uvloop

        uvloop.run(run_one(args))
        return
    # One process per target and shape: Tortoise binds its SQL to one dialect per process.
    for target in args.targets.split(","):
        for shape in args.shapes.split(",")[:1] if target == "bare" else args.shapes.split(","):
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            print(f"{target}, {shape} ({stamp} UTC)", flush=True)
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--one", f"{target}:{shape}"],
                           check=False)


if __name__ == "__main__":
    main()
