"""Benchmark: storing a backlog of queued hits into PostgreSQL, against a naive loop.

Run: .venv/bin/python bench/bench_ingest.py [--hits 100000] [--naive 10000] [--worker]
        [--entry-size N] [--one-email] [--distinct-uas]

A fresh PostgreSQL database (127.0.0.1:5432) gets 1,000 sent emails; ``--hits``
queued hits (90 % opens, 10 % clicks, 20,000 different clients) are then stored:

- ours: the record actor's body (``ingest_hits``) on the backlog's batches of 1,000
  (the edge's batch size): classification with context from storage, one bulk
  ``INSERT ... ON CONFLICT DO NOTHING``, aggregates grouped per email and link, one
  transaction per batch;
- with ``--worker``: the same backlog pushed into the Redis hit stream, one hit per
  entry by default (``--entry-size``: hits that arrived one by one), and drained by a
  real ``mailbeacon worker`` process, timed until all are stored;
- with ``--one-email``: every hit on one email, each from its own client (the hot
  row: every batch moves the same email's figures);
- naive: one ``INSERT`` and one aggregate ``UPDATE`` per event, each event its own
  transaction, no classification at all (``--naive`` events, its rate is compared).

With ``--distinct-uas`` each of the 20,000 clients has a user agent of its own
(browser builds), instead of 40 Thunderbird versions shared by all: the worst case
for the per-user-agent caches of the classifier and the client parser.

Every run checks that the stored count equals the number of hits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
UAS = [f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/{v}.0" for v in range(100, 140)]


def _user_agent(client: int, distinct: bool) -> str:
    if not distinct:
        return UAS[client % len(UAS)]
    return (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{100 + client % 40}.0.{client}.{client % 97} Safari/537.36"
    )


def _backlog(
    copies: list[str], count: int, *, distinct: bool = False, distinct_uas: bool = False
) -> list[dict[str, Any]]:
    from plugin.tracking.edge.hits import EdgeHit
    from plugin.tracking.pipeline.classify import HitKind

    rng = random.Random(7)
    start = time.time() - 3600
    hits = []
    for i in range(count):
        click = rng.random() < 0.1
        client = i if distinct else rng.randrange(20_000)
        hits.append(
            EdgeHit(
                event_id=uuid.uuid4().hex,
                kind=HitKind.CLICK if click else HitKind.OPEN,
                copy_id=rng.choice(copies),
                link_index=rng.choice((1, 2)) if click else None,
                honeypot=False,
                occurred_at=start + i * 0.03,
                method="GET",
                user_agent=_user_agent(client, distinct_uas),
                client_ip=f"10.{client // 62500 % 250}.{client // 250 % 250}.{client % 250}",
            ).to_wire()
        )
    return hits


async def _setup(settings: Any) -> tuple[list[str], list[int]]:
    from plugin.accounts.service import create_user
    from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink

    user = await create_user(f"bench-{secrets.token_hex(4)}@example.com")
    public_ids, email_ids = [], []
    for _ in range(1000):
        email = await SentEmail.create(
            user=user, subject="bench", status=EmailStatus.SENT, track_opens=True, track_links=True
        )
        copy = await EmailCopy.create(
            email=email,
            public_id=secrets.token_hex(12),
            status=EmailStatus.SENT,
            envelope_to=["a@example.org"],
        )
        await TrackedLink.create(email=email, position=1, url="https://example.com/1")
        await TrackedLink.create(email=email, position=2, url="https://example.com/2")
        public_ids.append(copy.public_id)
        email_ids.append(email.id)
    return public_ids, email_ids


async def _ours(hits: list[dict[str, Any]]) -> tuple[float, float]:
    """Wall seconds, and this process's CPU seconds (steadier on a shared machine)."""
    from plugin.runtime import current_runtime
    from plugin.tracking.pipeline.ingest import ingest_hits

    start, cpu = time.perf_counter(), time.process_time()
    laps = []
    for i in range(0, len(hits), 1000):
        lap = time.perf_counter()
        await ingest_hits(hits[i : i + 1000], current_runtime())
        laps.append(time.perf_counter() - lap)
    tenth = max(1, len(laps) // 10)
    print(
        f"ours: first {tenth} batches {tenth * 1000 / sum(laps[:tenth]):.0f} events/s, "
        f"last {tenth} {tenth * 1000 / sum(laps[-tenth:]):.0f} events/s (the email's events grow)"
    )
    return time.perf_counter() - start, time.process_time() - cpu


async def _naive(hits: list[dict[str, Any]], settings: Any) -> float:
    from tortoise.expressions import F
    from tortoise.transactions import in_transaction

    from plugin.sending.models import EmailCopy, SentEmail
    from plugin.tracking.edge.hits import client_hash
    from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

    copies = {c.public_id: c for c in await EmailCopy.all().select_related("email")}
    start = time.perf_counter()
    for hit in hits:
        copy = copies[hit["c"]]
        when = datetime.fromtimestamp(hit["t"], UTC)
        async with in_transaction():
            await TrackingEvent.create(
                event_id=uuid.UUID(hit["id"]),
                user_id=copy.email.user_id,
                email_id=copy.email_id,  # type: ignore[attr-defined]
                copy_id=copy.id,
                kind=EventKind.OPEN,
                source=EventSourceField.HUMAN,
                rule="naive",
                occurred_at=when,
                method="GET",
                user_agent=hit["ua"],
                client_hash=client_hash(settings, hit["ip"]),
            )
            await SentEmail.filter(id=copy.email_id).update(  # type: ignore[attr-defined]
                open_count=F("open_count") + 1, last_opened_at=when
            )
    return time.perf_counter() - start


async def _count(email_ids: list[int]) -> int:
    from plugin.tracking.models import TrackingEvent

    return await TrackingEvent.filter(email_id__in=email_ids).count()


async def _wipe() -> None:
    from plugin.sending.models import SentEmail
    from plugin.tracking.models import TrackingEvent

    await TrackingEvent.all().delete()
    await SentEmail.all().update(open_count=0, click_count=0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _via_worker(
    env: dict[str, str], hits: list[dict[str, Any]], email_ids: list[int], entry_size: int
) -> float:
    import json

    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS)
    key = f"{env['MAILBEACON_REDIS_PREFIX']}:hits"
    for start_at in range(0, len(hits), 1000):  # entry_size hits per stream entry
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start_at, min(start_at + 1000, len(hits)), entry_size):
                pipe.xadd(key, {"b": json.dumps(hits[i : i + entry_size])})
            await pipe.execute()
    await redis.aclose()
    worker = subprocess.Popen(
        [sys.executable, "-m", "plugin.cli", "worker", "--threads", "4"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    start = time.perf_counter()
    first: tuple[float, int] | None = None  # (worker CPU, events) once recording began
    try:
        while (stored := await _count(email_ids)) < len(hits):
            if first is None and stored > 0:
                first = (_cpu_seconds(worker.pid), stored)
            await asyncio.sleep(0.1)
        if first is not None and stored > first[1]:
            # Start-up excluded; notifications and live publishing of the batches included
            # (they finish shortly after the last batch: give them a moment).
            await asyncio.sleep(1.0)
            cpu = _cpu_seconds(worker.pid) - first[0]
            print(
                f"worker CPU {cpu * 1e6 / (stored - first[1]):.0f} us/event "
                f"(recording, notifications, live publishing; after its first batch)"
            )
        return time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(60)


async def run(args: argparse.Namespace) -> None:
    from plugin.composition import start_runtime, stop_runtime
    from plugin.db import migrate, open_orm
    from plugin.settings import load_settings

    name = f"mbbench_ingest_{secrets.token_hex(4)}"
    env = {
        "MAILBEACON_ENV": "test",
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": f"{PG}/{name}",
        "MAILBEACON_REDIS_PREFIX": f"mbbench:{name}",
        "MAILBEACON_DATA_DIR": f"/tmp/{name}",
    }
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True
    )
    try:
        settings = load_settings(env)
        await migrate(settings)
        async with open_orm(settings):
            runtime = start_runtime(settings, embedded_worker=False)
            copies, email_ids = await _setup(settings)
            if args.one_email:  # the hot row: every hit on one email, each its own client
                copies = copies[:1]
            hits = _backlog(
                copies, args.hits, distinct=args.one_email, distinct_uas=args.distinct_uas
            )
            ours, ours_cpu = await _ours(hits)
            assert await _count(email_ids) == len(hits), "ours: stored != hits"
            await _wipe()
            naive_hits = hits[: args.naive]
            naive = await _naive(naive_hits, settings)
            assert await _count(email_ids) == len(naive_hits), "naive: stored != hits"
            print(
                f"ours   {len(hits):7d} events in {ours:7.2f} s  {len(hits) / ours:9.0f} events/s"
                f"  ({ours_cpu:.2f} s CPU in this process, "
                f"{ours_cpu / len(hits) * 1e3:.3f} ms/event)"
            )
            print(
                f"naive  {len(naive_hits):7d} events in {naive:7.2f} s  "
                f"{len(naive_hits) / naive:9.0f} events/s"
            )
            print(f"ratio  {(len(hits) / ours) / (len(naive_hits) / naive):.1f}x")
            if args.worker:
                await _wipe()
                seconds = await _via_worker(
                    {**env, "MAILBEACON_REDIS_URL": REDIS}, hits, email_ids, args.entry_size
                )
                print(
                    f"worker {len(hits):7d} events in {seconds:7.2f} s  "
                    f"{len(hits) / seconds:9.0f} events/s (Redis hit stream, {args.entry_size} "
                    "hit(s) per entry, mailbeacon worker with 4 threads, including its start)"
                )
            await stop_runtime(runtime)
    finally:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-qc",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            ],
            check=False,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=10_000)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument(
        "--entry-size", type=int, default=1, help="hits per stream entry (1: opens one by one)"
    )
    parser.add_argument(
        "--one-email", action="store_true", help="every hit on one email, each its own client"
    )
    parser.add_argument("--distinct-uas", action="store_true")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
