"""Soak: mixed traffic for minutes; memory (RSS) and open file descriptors of serve and worker.

Run: .venv/bin/python bench/bench_soak.py [--minutes 5] [--opens 100] [--clicks 10]
        [--reads 5] [--subscribers 20] [--churn 5] [--sample 10]

Distributed mode, as bench_load.py starts it (``mailbeacon serve`` + ``mailbeacon
worker`` pinned to CPU 0, this process on CPU 1; a private PostgreSQL database and
Redis prefix). For ``--minutes``: pixel hits (``--opens``/s) and clicks
(``--clicks``/s), open loop, each from its own client address; GraphQL reads
(``--reads``/s: a Mail tab page, then one email); ``--subscribers`` trackingEvents
subscriptions held open, ``--churn`` of them closed and reopened every sample.
Every ``--sample`` s the resident memory and open descriptors of each process
tree (granian's workers included) are read from /proc. Stable means the end
is within noise of the start once warm, not creeping up sample after sample.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import websockets
from bench_load import Setup, _settle, setup_ours
from loadgen import OpenLoop, Poller, SubscriberClock, pixel_request, summary

READ = """query { sentEmails(first: 20) { edges { node { id openCount clickCount } } } }"""
ONE = """query($id: ID!) { sentEmail(id: $id) { id openCount lastOpenedAt links { url } } }"""


def _tree(pid: int) -> list[int]:
    """``pid`` and every descendant (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _usage(pid: int) -> tuple[float, int, int]:
    """Resident MiB, open descriptors and processes of ``pid``'s tree."""
    rss_kib, fds, processes = 0, 0, 0
    for member in _tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            fds += len(os.listdir(f"/proc/{member}/fd"))
        except OSError:
            continue
        processes += 1
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss_kib += int(line.split()[1])
    return rss_kib / 1024, fds, processes


async def _reads(base: str, token: str, rate: float, until: float, counts: dict[str, int]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            page = (await client.post("/graphql", json={"query": READ})).json()
            edges = page.get("data", {}).get("sentEmails", {}).get("edges", [])
            ok = bool(edges)
            if edges:
                one = (await client.post("/graphql", json={
                    "query": ONE, "variables": {"id": edges[0]["node"]["id"]}})).json()
                ok = ok and "errors" not in one
            counts["reads" if ok else "read_errors"] += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


async def _subscriptions(url: str, token: str, count: int, churn: int, every: float,
                         until: float, counts: dict[str, int]) -> None:
    held: list[SubscriberClock] = []

    async def subscribe() -> None:
        subscriber = SubscriberClock()
        try:
            await subscriber.open(url, token)
        except (OSError, TimeoutError, EOFError, websockets.exceptions.WebSocketException):
            counts["subscribe_errors"] += 1  # counted, and the soak goes on
            return
        held.append(subscriber)

    for _ in range(count):
        await subscribe()
    while time.monotonic() < until:
        await asyncio.sleep(every)
        for subscriber in held[:churn]:
            counts["events_live"] += len(subscriber.arrivals)
            await subscriber.close()
        del held[:churn]
        for _ in range(count - len(held)):
            await subscribe()
        counts["reconnects"] += churn
    for subscriber in held:
        counts["events_live"] += len(subscriber.arrivals)
        await subscriber.close()


async def soak(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {1})
    clicks: list[str] = []
    setup: Setup = await setup_ours("distributed", "spread", args.worker_threads, clicks)
    pids = {role: process.pid for role, process in setup.processes}
    host = f"127.0.0.1:{setup.port}"
    samples: list[tuple[float, dict[str, tuple[float, int, int]]]] = []
    counts = {"reads": 0, "read_errors": 0, "events_live": 0, "reconnects": 0,
              "subscribe_errors": 0}
    poller = Poller(setup.read_total)
    started = time.monotonic()
    try:
        poller.start()
        opens, clicking = OpenLoop("127.0.0.1", setup.port), OpenLoop("127.0.0.1", setup.port)
        await opens.warm(16)
        await clicking.warm(4)
        duration = args.minutes * 60
        until = time.monotonic() + duration

        async def sample() -> None:
            while True:
                samples.append((time.monotonic() - started,
                                {role: _usage(pid) for role, pid in pids.items()}))
                print("  " + _sample_line(samples[-1]), flush=True)
                await asyncio.sleep(args.sample)

        sampler = asyncio.create_task(sample())
        results = await asyncio.gather(
            opens.run(args.opens, duration, pixel_request(setup.paths, host)),
            clicking.run(args.clicks, duration, pixel_request(clicks, host), first=10**6),
            _reads(f"http://{host}", setup.token or "", args.reads, until, counts),
            _subscriptions(f"ws://{host}/graphql", setup.token or "", args.subscribers,
                           args.churn, args.sample, until, counts),
        )
        open_hits, click_hits = results[0], results[1]
        drain = await _settle(poller, len(open_hits.answered()), 120)
        sampler.cancel()
        samples.append((time.monotonic() - started,
                        {role: _usage(pid) for role, pid in pids.items()}))
        print("  " + _sample_line(samples[-1]) + "  (after draining)", flush=True)
        opens.close()
        clicking.close()
        _report(args, samples, open_hits, click_hits, poller.latest(), drain, counts)
    finally:
        await poller.stop()
        await setup.stop()


def _sample_line(sample: tuple[float, dict[str, tuple[float, int, int]]]) -> str:
    at, usage = sample
    parts = [f"{role} {rss:.0f} MiB {fds} fds ({n} proc)" for role, (rss, fds, n) in usage.items()]
    return f"t={at:5.0f} s  " + "  ".join(parts)


def _report(args: argparse.Namespace, samples: list[Any], opens: Any, clicks: Any,
            counted: int, drain: float, counts: dict[str, int]) -> None:
    print(f"soak {args.minutes:g} min: opens {len(opens.answered())}/{len(opens.due)} answered "
          f"(p50/p99 {summary(opens.answer_times())['p50_ms']:.1f}/"
          f"{summary(opens.answer_times())['p99_ms']:.1f} ms), {counted} counted "
          f"(drained {drain:.1f} s after); clicks {len(clicks.answered())}/{len(clicks.due)} "
          f"answered (redirects: {sum(1 for s in clicks.status if s in (302, 303, 307))}); "
          f"GraphQL reads {counts['reads']} ok, {counts['read_errors']} failed; "
          f"live events {counts['events_live']}, {counts['reconnects']} reconnects "
          f"({counts['subscribe_errors']} failed)", flush=True)
    warm = samples[min(1, len(samples) - 1)]
    for role in samples[0][1]:
        first, last = warm[1][role], samples[-1][1][role]
        peak = max(s[1][role][0] for s in samples)
        print(f"  {role}: RSS {first[0]:.0f} -> {last[0]:.0f} MiB (peak {peak:.0f}), "
              f"fds {first[1]} -> {last[1]} (from the first sample after start)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--opens", type=float, default=100)
    parser.add_argument("--clicks", type=float, default=10)
    parser.add_argument("--reads", type=float, default=5)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--churn", type=int, default=5)
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--worker-threads", type=int, default=8)
    args = parser.parse_args()
    import uvloop

    uvloop.run(soak(args))


if __name__ == "__main__":
    main()
