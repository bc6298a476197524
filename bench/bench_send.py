"""Sends per second: sendEmail mutation -> worker -> accepted by a local SMTP server.

A standalone run: a temporary DATA_DIR and SQLite database, the real app under
uvicorn on a free port in embedded mode (in-process Dramatiq worker threads),
and an aiosmtpd server that counts what it accepts. N mutations are posted
with C at a time; the clock stops when the SMTP server has accepted all N.

    .venv/bin/python bench/bench_send.py [--count 300] [--concurrency 8] [--tracked]
        [--database-url postgres://postgres@127.0.0.1:5432/mb_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

dramatiq.set_broker(StubBroker())  # before any actor module is imported

SEND = """mutation($input: SendEmailInput!) {
  sendEmail(input: $input) { email { id } errors { code message } } }"""
HTML = "<html><body><p>Hello {name}</p>" + "".join(
    f'<p><a href="https://shop.example.com/p/{i}?ref=mail&amp;x={i}">Product {i}</a></p>'
    for i in range(10)
) + "</body></html>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Counter:
    def __init__(self) -> None:
        self.accepted = 0
        self.done = asyncio.Event()
        self.target = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        if self.accepted >= self.target and self.loop is not None:
            self.loop.call_soon_threadsafe(self.done.set)
        return "250 OK"


async def run(count: int, concurrency: int, tracked: bool, database_url: str) -> None:
    import httpx
    import uvicorn
    from aiosmtpd.controller import Controller

    from plugin.accounts.service import create_user, issue_token
    from plugin.app import create_app
    from plugin.db import migrate
    from plugin.settings import load_settings

    counter = Counter()
    counter.loop = asyncio.get_running_loop()
    smtp = Controller(counter, hostname="127.0.0.1", port=free_port())
    smtp.start()
    data_dir = Path(tempfile.mkdtemp(prefix="mb-bench-"))
    port = free_port()
    settings = load_settings({
        "MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": str(data_dir),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}", "MAILBEACON_PORT": str(port),
        "MAILBEACON_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "MAILBEACON_DATABASE_URL": database_url,
    })
    await migrate(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           lifespan="on", access_log=False, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    user = await create_user("bench@example.com", name="Bench")
    token = await issue_token(user)
    latencies: list[float] = []
    counter.target = count
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def client_loop() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                variables = {"input": {"to": [f"r{i}@example.com"], "subject": f"Bench {i}",
                                       "html": HTML.format(name=i), "trackOpens": tracked,
                                       "trackLinks": tracked}}
                started = time.perf_counter()
                answer = (await client.post("/graphql", json={"query": SEND,
                                                               "variables": variables})).json()
                latencies.append(time.perf_counter() - started)
                assert answer["data"]["sendEmail"]["errors"] == [], answer

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        mutations_done = time.perf_counter() - started
        await asyncio.wait_for(counter.done.wait(), 300)
        elapsed = time.perf_counter() - started
    server.should_exit = True
    await task
    smtp.stop()
    latencies.sort()
    print(f"{count} sends ({'tracked' if tracked else 'untracked'}, {concurrency} concurrent "
          f"clients, {settings.database_url.split(':')[0]}, embedded worker, aiosmtpd)")
    print(f"  mutations: {count / mutations_done:7.1f}/s  "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms  "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms")
    print(f"  accepted by SMTP: {count / elapsed:7.1f} sends/s end to end ({elapsed:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tracked", action="store_true", help="open and link tracking on")
    parser.add_argument("--database-url", default="",
                        help="an empty, migratable database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.concurrency, args.tracked, args.database_url))


if __name__ == "__main__":
    main()
