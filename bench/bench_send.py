"""Sends per second: sendEmail mutation -> worker -> accepted by a local SMTP server.

A standalone run: a temporary DATA_DIR and database (SQLite, or a private
PostgreSQL database with ``--db postgres``), the real app under uvicorn on a free
port in embedded mode (in-process Dramatiq worker threads), and an aiosmtpd
server in its own process that counts what it accepts (bench/smtp_sink.py;
``--starttls``: STARTTLS required, with a throwaway self-signed certificate, as
a real relay asks for).

Two benchmarks:

- ``mutations`` (the default): N one-recipient sends, C at a time; the clock
  stops when the SMTP server has accepted all N.
- ``--per-recipient R``: S sends of one email to R recipients with
  ``trackPerRecipient`` (R copies each, one at a time); the clock of a send
  runs from posting the mutation to the server accepting its R-th copy. Run
  twice in one go, each in its own process: with the SMTP pool (``SMTP_POOL_SIZE``
  default) and the baseline, one connection per copy (``SMTP_POOL_SIZE=0``);
  the ratio is printed. ``--db both``: on SQLite, then on PostgreSQL; ``--rounds N``:
  N such comparisons in a row, with their medians (the machine is shared: a ratio
  is only taken within one round).

    .venv/bin/python bench/bench_send.py [--count 300] [--concurrency 8] [--tracked]
    .venv/bin/python bench/bench_send.py --per-recipient 100 [--sends 5] [--starttls]
        [--rtt-ms 20] [--db sqlite|postgres|both] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

dramatiq.set_broker(StubBroker())  # before any actor module is imported

PG = "postgresql://postgres@127.0.0.1:5432"
SEND = """mutation($input: SendEmailInput!) {
  sendEmail(input: $input) { email { id } errors { code message } } }"""
HTML = "<html><body><p>Hello {name}</p>" + "".join(
    f'<p><a href="https://shop.example.com/p/{i}?ref=mail&amp;x={i}">Product {i}</a></p>'
    for i in range(10)
) + "</body></html>"


def free_port() -> int:
    """A free port whose successor is free too (the sink's server sits behind its relay)."""
    while True:
        with socket.socket() as sock, socket.socket() as after:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            try:
                after.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


class Counter:
    """Reads the sink's stdout: counts sessions and accepted messages; ``wait_for(n)``."""

    def __init__(self) -> None:
        self.accepted = 0
        self.sessions = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def follow(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            if line == b"a\n":
                self.accepted += 1
                for target, future in list(self._waiters):
                    if self.accepted >= target and not future.done():
                        future.set_result(None)
            elif line == b"s\n":
                self.sessions += 1

    async def wait_for(self, total: int, timeout: float = 600) -> None:
        if self.accepted >= total:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((total, future))
        await asyncio.wait_for(future, timeout)


async def _start_sink(port: int, tls_files: tuple[Path, Path] | None, rtt_ms: float,
                      pipelining: bool) -> Any:
    """bench/smtp_sink.py in its own process (a real server's work is not ours)."""
    command = [sys.executable, str(Path(__file__).with_name("smtp_sink.py")), str(port),
               "--rtt-ms", str(rtt_ms)] + ["--no-pipelining"] * (not pipelining)
    if tls_files:
        command += ["--starttls", *map(str, tls_files)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    assert await process.stdout.readline() == b"ready\n"
    return process


def _tls_files(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (and its key)."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


async def _create_pg_database() -> str:
    import asyncpg

    name = f"mb_bench_send_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import uvicorn

    from plugin.accounts.service import create_user, issue_token
    from plugin.app import create_app
    from plugin.db import migrate
    from plugin.settings import load_settings

    data_dir = Path(tempfile.mkdtemp(prefix="mb-bench-"))
    counter = Counter()
    tls = _tls_files(data_dir) if args.starttls else None
    smtp_port = free_port()
    sink = await _start_sink(smtp_port, tls, args.rtt_ms, not args.no_pipelining)
    following = asyncio.create_task(counter.follow(sink.stdout))
    database = await _create_pg_database() if args.db == "postgres" else None
    port = free_port()
    env = {
        "MAILBEACON_ENV": "test", "MAILBEACON_DATA_DIR": str(data_dir),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}", "MAILBEACON_PORT": str(port),
        "MAILBEACON_SMTP_URL": f"{'smtp+starttls' if tls else 'smtp'}://127.0.0.1:{smtp_port}",
        "MAILBEACON_DATABASE_URL": f"{PG}/{database}" if database else "",
        "MAILBEACON_MAX_RECIPIENTS": str(max(100, args.per_recipient)),
    }
    if args.pool_size is not None:
        env["MAILBEACON_SMTP_POOL_SIZE"] = str(args.pool_size)
    if tls:
        # The bench's certificate is self-signed: trust it in this process only.
        os.environ["SSL_CERT_FILE"] = str(tls[0])
    settings = load_settings(env)
    await migrate(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           lifespan="on", access_log=False, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        user = await create_user("bench@example.com", name="Bench")
        token = await issue_token(user)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            if args.per_recipient:
                result = await _per_recipient(client, counter, args)
            else:
                result = await _mutations(client, counter, args)
    finally:
        server.should_exit = True
        await task
        sink.terminate()
        await sink.wait()
        following.cancel()
        if database:
            await _drop_pg_database(database)
        shutil.rmtree(data_dir, ignore_errors=True)  # its database, certificate, spool
    result.update(database=settings.database_url.split(":")[0], pool_size=settings.smtp_pool_size,
                  starttls=tls is not None, sessions=counter.sessions, rtt_ms=args.rtt_ms,
                  pipelining=not args.no_pipelining)
    return result


async def _post(client: Any, variables: dict[str, Any]) -> None:
    answer = (await client.post("/graphql", json={"query": SEND, "variables": variables})).json()
    assert answer["data"]["sendEmail"]["errors"] == [], answer


async def _mutations(client: Any, counter: Counter, args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.count):
        queue.put_nowait(i)

    async def client_loop() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await _post(client, {"input": {
                "to": [f"r{i}@example.com"], "subject": f"Bench {i}", "html": HTML.format(name=i),
                "trackOpens": args.tracked, "trackLinks": args.tracked}})
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
    mutations_done = time.perf_counter() - started
    await counter.wait_for(args.count)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"mode": "mutations", "count": args.count,
            "mutations_per_s": args.count / mutations_done,
            "mutation_p50_ms": statistics.median(latencies) * 1000,
            "mutation_p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
            "sends_per_s": args.count / elapsed, "seconds": elapsed}


async def _per_recipient(client: Any, counter: Counter, args: argparse.Namespace) -> dict[str, Any]:
    recipients = args.per_recipient
    durations: list[float] = []
    posting: list[float] = []
    for n in range(args.sends + 1):  # the first send warms up (imports, first connections)
        started = time.perf_counter()
        await _post(client, {"input": {
            "to": [f"r{n}-{i}@example.com" for i in range(recipients)], "subject": f"Bench {n}",
            "html": HTML.format(name=n), "trackOpens": True, "trackLinks": True,
            "trackPerRecipient": True}})
        posted = time.perf_counter() - started
        await counter.wait_for((n + 1) * recipients)
        if n:
            durations.append(time.perf_counter() - started)
            posting.append(posted)
    return {"mode": "per-recipient", "recipients": recipients, "sends": args.sends,
            "seconds": durations, "median_s": statistics.median(durations),
            "mutation_median_s": statistics.median(posting),
            "copies_per_s": recipients / statistics.median(durations)}


def _print(result: dict[str, Any]) -> None:
    how = (f"{result['database']}, embedded worker, aiosmtpd"
           f"{' with STARTTLS' if result['starttls'] else ''}"
           f"{'' if result['pipelining'] else ' without PIPELINING'}, RTT {result['rtt_ms']:g} ms, "
           f"SMTP_POOL_SIZE={result['pool_size']}")
    if result["mode"] == "mutations":
        print(f"{result['count']} sends ({how})")
        print(f"  mutations: {result['mutations_per_s']:7.1f}/s  "
              f"p50 {result['mutation_p50_ms']:.1f} ms  p95 {result['mutation_p95_ms']:.1f} ms")
        print(f"  accepted by SMTP: {result['sends_per_s']:7.1f} sends/s end to end "
              f"({result['seconds']:.2f} s, {result['sessions']} SMTP sessions)")
    else:
        runs = ", ".join(f"{s:.2f}" for s in result["seconds"])
        print(f"per-recipient send to {result['recipients']} ({how}): median "
              f"{result['median_s']:.2f} s ({result['copies_per_s']:.0f} copies/s; runs: {runs} s; "
              f"{result['sessions']} SMTP sessions; the mutation itself "
              f"{result['mutation_median_s']:.2f} s)")


def _compare(args: argparse.Namespace) -> None:
    """The pooled run and the one-connection-per-copy baseline, each in its own process,
    on each database asked for, ``--rounds`` times (the ratio within each round)."""
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    ratios: dict[str, list[float]] = {db: [] for db in databases}
    medians: dict[str, dict[str, list[float]]] = {db: {"pooled": [], "baseline": []}
                                                  for db in databases}
    loads: list[float] = []
    for round_ in range(args.rounds):
        for db in databases:
            results = {}
            for name, size in (("pooled", None), ("baseline", 0)):
                loads.append(os.getloadavg()[0])
                command = [sys.executable, __file__, "--json", "--per-recipient",
                           str(args.per_recipient), "--sends", str(args.sends), "--db", db]
                command += ["--starttls"] * args.starttls
                command += ["--no-pipelining"] * args.no_pipelining
                command += ["--rtt-ms", str(args.rtt_ms)]
                if size is not None:
                    command += ["--pool-size", str(size)]
                output = subprocess.run(command, check=True, capture_output=True,
                                        text=True).stdout
                results[name] = json.loads(output.strip().splitlines()[-1])
                medians[db][name].append(results[name]["median_s"])
                _print(results[name])
            ratio = results["baseline"]["median_s"] / results["pooled"]["median_s"]
            ratios[db].append(ratio)
            print(f"round {round_ + 1}, {db}: pooled vs one connection per copy: "
                  f"{ratio:.1f}x faster (load average {loads[-1]:.1f})", flush=True)
    loads.append(os.getloadavg()[0])
    if args.rounds > 1:
        for db in databases:
            print(f"{db}: median of {args.rounds} rounds: pooled "
                  f"{statistics.median(medians[db]['pooled']):.2f} s, one connection per "
                  f"copy {statistics.median(medians[db]['baseline']):.2f} s, ratio "
                  f"{statistics.median(ratios[db]):.1f}x (rounds: "
                  f"{', '.join(f'{r:.1f}' for r in ratios[db])}); load average "
                  f"{min(loads):.1f}-{max(loads):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tracked", action="store_true", help="open and link tracking on")
    parser.add_argument("--per-recipient", type=int, default=0, metavar="R",
                        help="per-recipient sends to R recipients, pooled vs baseline")
    parser.add_argument("--sends", type=int, default=5, help="timed per-recipient sends")
    parser.add_argument("--starttls", action="store_true", help="the SMTP server requires STARTTLS")
    parser.add_argument("--rtt-ms", type=float, default=0.0,
                        help="the SMTP server this many milliseconds away (a relay adds it)")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="the SMTP server does not advertise ESMTP PIPELINING")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite",
                        help="SQLite, a private PostgreSQL database at 127.0.0.1:5432, or "
                             "both, one after the other in each round")
    parser.add_argument("--postgres", action="store_const", dest="db", const="postgres",
                        help="--db postgres")
    parser.add_argument("--rounds", type=int, default=1,
                        help="per-recipient comparisons, each pooled then baseline")
    parser.add_argument("--pool-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.db == "both" and (args.json or not args.per_recipient):
        parser.error("--db both compares per-recipient sends (--per-recipient R)")
    if args.per_recipient and args.pool_size is None and not args.json:
        _compare(args)
        return
    result = asyncio.run(run(args))
    print(json.dumps(result)) if args.json else _print(result)


if __name__ == "__main__":
    main()
