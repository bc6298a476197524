"""Benchmark: what the access log costs the pixel, in CPU time per request.

Run: .venv/bin/python bench/bench_access_log.py [--requests 20000] [--concurrency 64]

The whole app (embedded mode: SQLite, spool, in-process workers) is driven
in-process through ASGI, without sockets, once with ``MAILBEACON_ACCESS_LOG``
off and once on (lines to a temp file), alternating for ``--rounds`` rounds.
It reports the process's CPU time per pixel request (``time.process_time``,
all threads), which other load on the machine disturbs much less than the
wall-clock throughput of bench_pixel.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[Any]]:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   inbox.get, outbox.put))
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    return task, inbox


async def _measure(access_log: bool, data_dir: Path, requests: int, concurrency: int) -> float:
    from plugin.app import create_app
    from plugin.db import migrate
    from plugin.settings import load_settings
    from plugin.tracking.edge.signer import signer_for

    settings = load_settings({
        "MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": str(data_dir),
        "MAILBEACON_SECRET_KEY": "k" * 48, "MAILBEACON_ACCESS_LOG": str(access_log).lower(),
    })
    await migrate(settings)
    app = create_app(settings)
    task, inbox = await _lifespan(app)
    path = f"/t/o/{signer_for(settings).sign_open(secrets.token_bytes(12))}.gif"
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "",
             "headers": [(b"user-agent", b"Mozilla/5.0 Thunderbird/128.0")],
             "client": ("198.51.100.7", 4000), "query_string": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def client(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, send)

    per_client = requests // concurrency
    await asyncio.gather(*(client(per_client // 10) for _ in range(concurrency)))  # warm-up
    statuses.clear()
    cpu = time.process_time()
    await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
    cpu = time.process_time() - cpu
    assert statuses and set(statuses) == {200}, set(statuses)
    await inbox.put({"type": "lifespan.shutdown"})
    await task
    return cpu / len(statuses) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "access.log", "w")  # noqa: SIM115 - the whole run
        sys.stderr = log
        for round_ in range(args.rounds):
            for access_log in (False, True):
                data_dir = Path(tmp) / f"r{round_}-{access_log}"
                us = asyncio.run(_measure(access_log, data_dir, args.requests, args.concurrency))
                results[access_log].append(us)
                print(f"round {round_ + 1} access log {'on ' if access_log else 'off'}: "
                      f"{us:.1f} us CPU per pixel", flush=True)
        sys.stderr = sys.__stderr__
        log.close()
        lines = sum(1 for _ in open(Path(tmp) / "access.log"))  # noqa: SIM115
    # The median: the embedded workers record in threads, so a round's CPU also depends on
    # how much of the recording fell inside it; the median is steadier than the best.
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(f"median of {args.rounds}: off {off:.1f} us, on {on:.1f} us per pixel request; "
          f"on/off = {on / off:.3f} ({lines} access lines written)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
