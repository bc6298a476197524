"""Soak: mixed traffic for minutes; memory (RSS) and open descriptors of serve and worker.

Run: .venv/bin/python bench/bench_soak.py [--minutes 5] [--warmup 60] [--opens 100]
        [--clicks 10] [--reads 5] [--subscribers 20] [--churn 5] [--sample 10]
        [--connections 32] [--json FILE] [--trace DIR --trace-every 60 --trace-only worker]

Distributed mode, as bench_load.py starts it (``mailbeacon serve`` + ``mailbeacon
worker`` pinned to CPU 0, this process on CPU 1; a private PostgreSQL database and
Redis prefix). For ``--warmup`` s and then ``--minutes``: pixel hits (``--opens``/s)
and clicks (``--clicks``/s), open loop, each from its own client address, over a
fixed pool of keep-alive connections (``--connections`` for pixels, a quarter of it
for clicks, all opened before the traffic; a hit due while every connection is busy
waits for one, and its answer time counts from when it was due); GraphQL reads
(``--reads``/s: a Mail tab page, then one email, one keep-alive connection);
``--subscribers`` trackingEvents subscriptions held open, ``--churn`` of them closed
and reopened every sample.

Every ``--sample`` s the resident memory and open descriptors of each process
tree (granian's worker included) are read from /proc, descriptors sorted by kind
(bench/soak_probe.py: the generator's HTTP connections apart from PostgreSQL,
Redis, files and pipes). Also before any traffic and after it, once every client
connection is closed ("idle"): those two must match but for pools that filled.

The verdict compares the first sample after the warm-up ("start") with the last
one under traffic ("end"): memory is stable if end - start stays within
max(``--rss-tolerance`` MiB, 3 %) and the least-squares slope over the second
half of the measured span is under ``--max-slope`` MiB/min. Descriptors are flat
if files, pipes and sockets other than the pools' never end above their start,
the pools (``pg``, ``redis``: they may fill up to their size under load) have
stopped growing by the middle of the span, and once idle every kind but the pools
is back where it was before the traffic (``http`` at 0), files excepted: a first
use may open one for good (prometheus's per-process files), so the files open
once idle are compared with the start of the span instead, and named.

``--trace DIR`` starts the servers with bench/memtrace on PYTHONPATH: each process
writes tracemalloc snapshots and gc type counts to DIR every ``--trace-every`` s
(compare with bench/memtrace/diff.py). Tracing slows the servers: figures of a
traced run are not the soak's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import bench_load
import websockets
from bench_load import Setup, _settle, setup_ours
from loadgen import OpenLoop, Poller, SubscriberClock, pixel_request, summary
from soak_probe import KINDS, Usage, usage

READ = """query { sentEmails(first: 20) { edges { node { id openCount clickCount } } } }"""
ONE = """query($id: ID!) { sentEmail(id: $id) { id openCount lastOpenedAt links { url } } }"""
Sample = tuple[float, dict[str, Usage]]  # (seconds since the traffic started, per role)
POOL_KINDS = ("pg", "redis")  # connection pools: may fill up to their size
STRICT_KINDS = tuple(kind for kind in KINDS if kind not in (*POOL_KINDS, "http"))


async def _reads(base: str, token: str, rate: float, until: float, counts: dict[str, int]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                page = (await client.post("/graphql", json={"query": READ})).json()
                edges = page.get("data", {}).get("sentEmails", {}).get("edges", [])
                ok = bool(edges)
                if edges:
                    one = (await client.post("/graphql", json={
                        "query": ONE, "variables": {"id": edges[0]["node"]["id"]}})).json()
                    ok = ok and "errors" not in one
            except (httpx.HTTPError, ValueError):  # counted, and the soak goes on
                ok = False
            counts["reads" if ok else "read_errors"] += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


async def _subscriptions(url: str, token: str, count: int, churn: int, every: float,
                         until: float, rate: float, counts: dict[str, int]) -> None:
    """Hold ``count`` subscriptions, renewing ``churn`` every ``every`` s; counts["events_due"]
    is what they would have received had every hit reached every subscriber at once."""
    held: list[SubscriberClock] = []
    opened: dict[int, float] = {}

    async def subscribe() -> None:
        subscriber = SubscriberClock()
        try:
            await subscriber.open(url, token)
        except (OSError, TimeoutError, EOFError, websockets.exceptions.WebSocketException):
            counts["subscribe_errors"] += 1  # counted, and the soak goes on
            return
        opened[id(subscriber)] = time.monotonic()
        held.append(subscriber)

    def closing(subscriber: SubscriberClock) -> None:
        counts["events_live"] += len(subscriber.arrivals)
        stop = min(time.monotonic(), until)
        counts["events_due"] += int(rate * max(0.0, stop - opened.pop(id(subscriber))))

    for _ in range(count):
        await subscribe()
    while time.monotonic() < until:
        await asyncio.sleep(every)
        for subscriber in held[:churn]:
            closing(subscriber)
            await subscriber.close()
        del held[:churn]
        for _ in range(count - len(held)):
            await subscribe()
        counts["reconnects"] += churn
    for subscriber in held:
        closing(subscriber)
        await subscriber.close()


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {1})
    if args.trace:
        os.environ["MB_MEMTRACE_DIR"] = str(Path(args.trace).resolve())
        os.environ["MB_MEMTRACE_EVERY"] = str(args.trace_every)
        if args.trace_only:
            os.environ["MB_MEMTRACE_ONLY"] = args.trace_only
        bench_load.EXTRA_PYTHONPATH.append(str(Path(__file__).resolve().parent / "memtrace"))
        bench_load.START_TIMEOUT = 300
    clicks: list[str] = []
    setup: Setup = await setup_ours("distributed", "spread", args.worker_threads, clicks)
    pids = {role: process.pid for role, process in setup.processes}
    host = f"127.0.0.1:{setup.port}"

    def probe() -> dict[str, Usage]:
        return {role: usage(pid, setup.port) for role, pid in pids.items()}

    samples: list[Sample] = []
    counts = {"reads": 0, "read_errors": 0, "events_live": 0, "events_due": 0, "reconnects": 0,
              "subscribe_errors": 0, "live_drop_warnings": 0}
    poller = Poller(setup.read_total)
    try:
        await asyncio.sleep(5)  # start-up done (migrations ran before; pools idle)
        idle_before = probe()
        print("  idle before: " + _line(idle_before), flush=True)
        poller.start()
        pool = max(1, args.connections)
        opens = OpenLoop("127.0.0.1", setup.port, max_connections=pool)
        clicking = OpenLoop("127.0.0.1", setup.port, max_connections=max(1, pool // 4))
        await opens.warm(opens.max_connections)
        await clicking.warm(clicking.max_connections)
        duration = args.warmup + args.minutes * 60
        started = time.monotonic()
        until = started + duration

        async def sample() -> None:
            while True:
                samples.append((time.monotonic() - started, probe()))
                print(f"  t={samples[-1][0]:5.0f} s  " + _line(samples[-1][1]), flush=True)
                await asyncio.sleep(args.sample)

        sampler = asyncio.create_task(sample())
        results = await asyncio.gather(
            opens.run(args.opens, duration, pixel_request(setup.paths, host)),
            clicking.run(args.clicks, duration, pixel_request(clicks, host), first=10**6),
            _reads(f"http://{host}", setup.token or "", args.reads, until, counts),
            _subscriptions(f"ws://{host}/graphql", setup.token or "", args.subscribers,
                           args.churn, args.sample, until, args.opens + args.clicks, counts),
        )
        sampler.cancel()
        open_hits, click_hits = results[0], results[1]
        drain = await _settle(poller, len(open_hits.answered()), 120)
        opens.close()
        clicking.close()
        idle_after = await _idle(probe)
        print("  idle after:  " + _line(idle_after), flush=True)
        # The live hub drops events for a subscriber whose queue is full (and logs it).
        serve_log = (setup.log_dir / "serve.log").read_text(errors="replace")
        counts["live_drop_warnings"] = serve_log.count("is too slow: dropped")
        measured = [s for s in samples if args.warmup <= s[0] <= duration + 1]
        report = _report(args, measured, idle_before, idle_after, open_hits, click_hits,
                         poller.latest(), drain, counts)
        report["samples"] = [{"t": round(t, 1), **{role: vars(u) for role, u in roles.items()}}
                             for t, roles in samples]
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
        return report
    finally:
        await poller.stop()
        await setup.stop()


async def _idle(probe: Any, wait: float = 15) -> dict[str, Usage]:
    """The usage once the servers have seen every client connection close (at most ``wait`` s)."""
    deadline = time.monotonic() + wait
    while True:
        await asyncio.sleep(1)
        found = probe()
        if time.monotonic() > deadline or all(u.kinds["http"] == 0 for u in found.values()):
            await asyncio.sleep(2)  # let closing work (subscription teardown) finish
            return probe()


def _line(usage: dict[str, Usage]) -> str:
    parts = []
    for role, u in usage.items():
        kinds = " ".join(f"{kind} {u.kinds[kind]}" for kind in KINDS if u.kinds.get(kind))
        parts.append(f"{role} {u.rss_mib:.0f} MiB {u.fds} fds ({kinds}; {u.processes} proc)")
    return "  ".join(parts)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute (0 with < 2 points)."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def verdict(args: argparse.Namespace, measured: list[Sample], idle_before: dict[str, Usage],
            idle_after: dict[str, Usage]) -> dict[str, Any]:
    """Per role: RSS start/end/peak/slope and descriptors by kind, with stable or not."""
    roles: dict[str, Any] = {}
    if not measured:
        return roles
    t0, t1 = measured[0][0], measured[-1][0]
    half = t0 + (t1 - t0) / 2
    for role in measured[0][1]:
        first, last = measured[0][1][role], measured[-1][1][role]
        rss = [(t, usage[role].rss_mib) for t, usage in measured]
        growth = last.rss_mib - first.rss_mib
        second_half = slope([(t, v) for t, v in rss if t >= half])
        allowed = max(args.rss_tolerance, 0.03 * first.rss_mib)
        memory_ok = growth <= allowed and second_half <= args.max_slope
        # Files, pipes and other sockets must not grow at all; connection pools (pg, redis)
        # may fill up to their size under load, but must have stopped by the second half.
        middle = min(measured, key=lambda sample: abs(sample[0] - half))[1][role]
        grown_kinds = {kind: (first.kinds[kind], last.kinds[kind]) for kind in STRICT_KINDS
                       if last.kinds[kind] > first.kinds[kind]}
        grown_kinds |= {kind: (middle.kinds[kind], last.kinds[kind]) for kind in POOL_KINDS
                        if last.kinds[kind] > middle.kinds[kind]}
        before, after = idle_before[role].kinds, idle_after[role].kinds
        # Once idle, everything but the pools is back where it was before the traffic,
        # except files a first use opens for good (prometheus's per-process .db files):
        # those are listed, and must not have grown since the start of the span.
        idle_diff = {kind: (before[kind], after[kind]) for kind in (*STRICT_KINDS, "http")
                     if kind != "file" and before[kind] != after[kind]}
        if after["file"] > first.kinds["file"]:
            idle_diff["file"] = (first.kinds["file"], after["file"])
        roles[role] = {
            "rss_start": first.rss_mib, "rss_end": last.rss_mib,
            "rss_peak": max(v for _, v in rss), "rss_growth": growth, "rss_allowed": allowed,
            "slope_second_half": second_half, "memory_stable": memory_ok,
            "fds_start": first.fds, "fds_end": last.fds,
            "fds_peak": max(usage[role].fds for _, usage in measured),
            "kinds_start": first.kinds, "kinds_end": last.kinds,
            "idle_before": before, "idle_after": after,
            "kinds_grown": grown_kinds, "idle_changed": idle_diff,
            "files_opened_by_traffic": sorted(
                set(idle_after[role].files) - set(idle_before[role].files)),
            "fds_flat": not grown_kinds and not idle_diff,
        }
    return roles


def _report(args: argparse.Namespace, measured: list[Sample], idle_before: dict[str, Usage],
            idle_after: dict[str, Usage], opens: Any, clicks: Any, counted: int, drain: float,
            counts: dict[str, int]) -> dict[str, Any]:
    answers = summary(opens.answer_times())
    print(f"soak {args.warmup:g} s warm-up + {args.minutes:g} min: opens "
          f"{len(opens.answered())}/{len(opens.due)} answered (p50/p99 "
          f"{answers['p50_ms']:.1f}/{answers['p99_ms']:.1f} ms), {counted} counted "
          f"(drained {drain:.1f} s after); clicks {len(clicks.answered())}/{len(clicks.due)} "
          f"answered (redirects: {sum(1 for s in clicks.status if s in (302, 303, 307))}); "
          f"GraphQL reads {counts['reads']} ok, {counts['read_errors']} failed; "
          f"live events {counts['events_live']} of ~{counts['events_due']} due "
          f"({counts['live_drop_warnings']} drop warnings), {counts['reconnects']} reconnects "
          f"({counts['subscribe_errors']} failed)", flush=True)
    roles = verdict(args, measured, idle_before, idle_after)
    span = (measured[0][0], measured[-1][0]) if measured else (0.0, 0.0)
    print(f"measured from t={span[0]:.0f} s (start) to t={span[1]:.0f} s (end):", flush=True)
    for role, v in roles.items():
        print(f"  {role}: RSS {v['rss_start']:.1f} -> {v['rss_end']:.1f} MiB "
              f"({v['rss_growth']:+.1f}, allowed {v['rss_allowed']:.1f}), peak "
              f"{v['rss_peak']:.1f}, second-half slope {v['slope_second_half']:+.2f} MiB/min "
              f"(max {args.max_slope:g}): {'STABLE' if v['memory_stable'] else 'NOT STABLE'}",
              flush=True)
        ks, ke = v["kinds_start"], v["kinds_end"]
        flat = "FLAT" if v["fds_flat"] else f"NOT FLAT {v['kinds_grown'] or v['idle_changed']}"
        print(f"  {role}: fds {v['fds_start']} -> {v['fds_end']} (peak {v['fds_peak']}); "
              + ", ".join(f"{k} {ks[k]}->{ke[k]}" for k in KINDS if ks[k] or ke[k])
              + "; idle before/after: "
              + ", ".join(f"{k} {v['idle_before'][k]}/{v['idle_after'][k]}" for k in KINDS
                          if v["idle_before"][k] or v["idle_after"][k])
              + f": {flat}",
              flush=True)
        if v["files_opened_by_traffic"]:
            print(f"  {role}: files open after the traffic, not before: "
                  + ", ".join(v["files_opened_by_traffic"]), flush=True)
    stable = bool(roles) and all(v["memory_stable"] and v["fds_flat"] for v in roles.values())
    print(f"verdict: {'STABLE' if stable else 'NOT STABLE'}", flush=True)
    return {"args": vars(args), "stable": stable, "roles": roles, "counted": counted,
            "drain_s": drain, "opens_answered": len(opens.answered()), "opens_due": len(opens.due),
            "answer_p50_ms": answers["p50_ms"], "answer_p99_ms": answers["p99_ms"],
            "clicks_answered": len(clicks.answered()), "clicks_due": len(clicks.due),
            **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5, help="measured span after warm-up")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of traffic first")
    parser.add_argument("--opens", type=float, default=100)
    parser.add_argument("--clicks", type=float, default=10)
    parser.add_argument("--reads", type=float, default=5)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--churn", type=int, default=5)
    parser.add_argument("--sample", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32,
                        help="keep-alive connections for pixels (a quarter of it for clicks)")
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--rss-tolerance", type=float, default=5.0, help="MiB")
    parser.add_argument("--max-slope", type=float, default=1.0, help="MiB/min, second half")
    parser.add_argument("--json", help="write the figures and every sample to this file")
    parser.add_argument("--trace", help="memtrace output folder (slows the servers)")
    parser.add_argument("--trace-every", type=float, default=60)
    parser.add_argument("--trace-only", help="trace only commands containing this (worker)")
    args = parser.parse_args()
    import uvloop

    report = uvloop.run(soak(args))
    sys.exit(0 if report["stable"] else 1)


if __name__ == "__main__":
    main()
