"""CPU per event of the bell (the notification actor's body) and of the live transport.

Run: .venv/bin/python bench/bench_bell.py [--batch 50] [--rounds 20] [--events 20000]
        [--baseline-ref 9208450]

Bell: PostgreSQL (a private database) and Redis (a private prefix), both removed
afterwards. Each round stores one batch of counted HUMAN open events and hands
their ids to the bell, alternately to this tree's path (``notify_for_events`` +
one ``publish_notifications``) and to the baseline: ``plugin/notifications/batch.py``
as it is at ``--baseline-ref`` (read with ``git show``, loaded beside this tree's
modules), followed by one ``publish_notification`` per notification as the
actor did. Measured per event: this process's CPU (``time.process_time``: the
worker's share, publishing threads included) and the CPU of the database's
backends (``/proc/<pid>/stat`` of every PostgreSQL process on the database),
plus wall time. Shapes, all with ``--batch`` events a batch:
- ``spread-bump``: one event per email over ``--batch`` emails that each have an
  unread notification (the steady state: every group is bumped);
- ``spread-new``: the same, their notifications read first (every group is new);
- ``hot``: every event on one email's 100 per-recipient copies (groups bumped).

Live transport: ``--events`` tracking-event messages for one user, published in
batches of ``--batch`` by a child process either one Redis message per event (as
before) or one per batch, received by this process's ``RedisFanIn`` and taken
from one subscription's queue. Measured: this process's CPU per event (the serve
side's fan-in, parse, hub hand-over and queue), and the child's publish CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bench_storage import drop_bench_storage

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("MAILBEACON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("MAILBEACON_BENCH_REDIS", "redis://127.0.0.1:6379/0")
UA = "Mozilla/5.0 (Windows NT 10.0) Thunderbird/128.0"
TICKS = os.sysconf("SC_CLK_TCK")


def _baseline_module(ref: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{ref}:plugin/notifications/batch.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("baseline_batch", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{ref}:plugin/notifications/batch.py", "exec"), module.__dict__)
    return module


def _backend_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


class Bell:
    def __init__(self, settings: Any, admin: Any, database: str) -> None:
        self.settings = settings
        self.admin = admin
        self.database = database
        self.user_id = 0
        self.spread: list[tuple[int, int]] = []  # (email id, copy id)
        self.hot: list[tuple[int, int, str]] = []  # (email id, copy id, recipient)

    async def setup(self, emails: int) -> None:
        from plugin.accounts.service import create_user
        from plugin.sending.models import EmailCopy, EmailStatus, SentEmail

        accepted = datetime.now(UTC) - timedelta(hours=1)
        user = await create_user(f"bell-{uuid.uuid4().hex[:12]}@example.com")
        self.user_id = user.id
        for _ in range(emails):
            email = await SentEmail.create(
                user_id=user.id, subject="Bell", to_addresses=["a@example.org"],
                status=EmailStatus.SENT, sent_at=accepted, track_opens=True)
            copy = await EmailCopy.create(
                email=email, public_id=secrets.token_hex(12), envelope_to=["a@example.org"],
                track_opens=True, status=EmailStatus.SENT, accepted_at=accepted)
            self.spread.append((email.id, copy.id))
        readers = [f"reader{i}@example.org" for i in range(100)]
        email = await SentEmail.create(
            user_id=user.id, subject="Hot", to_addresses=readers, status=EmailStatus.SENT,
            sent_at=accepted, track_opens=True, track_per_recipient=True)
        for reader in readers:
            copy = await EmailCopy.create(
                email=email, public_id=secrets.token_hex(12), envelope_to=[reader],
                recipient=reader, track_opens=True, status=EmailStatus.SENT,
                accepted_at=accepted)
            self.hot.append((email.id, copy.id, reader))

    async def store(self, targets: list[tuple[int, int, str | None]]) -> list[str]:
        from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

        now = datetime.now(UTC)
        events = [
            TrackingEvent(
                event_id=uuid.uuid4(), user_id=self.user_id, email_id=email_id, copy_id=copy_id,
                kind=EventKind.OPEN, source=EventSourceField.HUMAN, rule="human",
                recipient=recipient, occurred_at=now, method="GET", user_agent=UA,
                client_hash="0" * 64)
            for email_id, copy_id, recipient in targets
        ]
        await TrackingEvent.bulk_create(events)
        return [str(event.event_id) for event in events]

    async def backends(self) -> list[int]:
        rows = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)
        return [int(row["pid"]) for row in rows]

    async def measure(self, run: Callable[[list[str]], Awaitable[None]], ids: list[str]
                      ) -> tuple[float, float, float]:
        pids = await self.backends()
        db0, cpu0, wall0 = _backend_ticks(pids), time.process_time(), time.perf_counter()
        await run(ids)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        return cpu, (_backend_ticks(pids) - db0) / TICKS, wall


async def bell_section(args: argparse.Namespace, settings: Any, admin: Any, database: str
                       ) -> list[dict[str, Any]]:
    from plugin.live.publishing import publish_notification, publish_notifications
    from plugin.notifications.batch import notify_for_events
    from plugin.notifications.models import Notification

    baseline = _baseline_module(args.baseline_ref)

    async def ours(ids: list[str]) -> None:
        rung = await notify_for_events(ids)
        if rung:
            await publish_notifications(settings, rung)

    async def old(ids: list[str]) -> None:
        for notification in await baseline.notify_for_events(ids):
            await publish_notification(settings, notification)

    bell = Bell(settings, admin, database)
    await bell.setup(args.batch)
    spread = [(email_id, copy_id, None) for email_id, copy_id in bell.spread]
    hot = [bell.hot[n % len(bell.hot)] for n in range(args.batch)]
    await ours(await bell.store(spread))  # every spread group has its unread notification
    await ours(await bell.store(hot))
    results = []
    for shape, targets in (("spread-bump", spread), ("spread-new", spread), ("hot", hot)):
        totals: dict[str, list[float]] = {"baseline": [0, 0, 0], "this tree": [0, 0, 0]}
        for round_no in range(args.rounds):
            order = [("baseline", old), ("this tree", ours)]
            for label, run in order if round_no % 2 == 0 else order[::-1]:
                if shape == "spread-new":
                    await Notification.filter(user_id=bell.user_id, read_at__isnull=True).update(
                        read_at=datetime.now(UTC))
                ids = await bell.store(targets)
                for n, value in enumerate(await bell.measure(run, ids)):
                    totals[label][n] += value
        events = args.rounds * args.batch
        row = {"shape": shape, "batch": args.batch, "events": events}
        for label, (cpu, db, wall) in totals.items():
            row[label] = {"cpu_us": cpu / events * 1e6, "db_us": db / events * 1e6,
                          "wall_us": wall / events * 1e6}
        results.append(row)
        base, new = row["baseline"], row["this tree"]
        print(f"  bell {shape:<11} batch {args.batch}: worker CPU/event "
              f"{base['cpu_us']:.0f} -> {new['cpu_us']:.0f} us "
              f"({new['cpu_us'] / base['cpu_us']:.2f}x), database CPU/event "
              f"{base['db_us']:.0f} -> {new['db_us']:.0f} us, wall/event "
              f"{base['wall_us']:.0f} -> {new['wall_us']:.0f} us", flush=True)
    return results


PUBLISHER = r"""
import json, sys, time
from plugin.live.redis_bus import RedisPublisher, encode_messages
url, channel, events, batch, batched = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
publisher = RedisPublisher(url)
start = time.process_time()
for first in range(0, events, batch):
    messages = [{"type": "event", "event": {"id": str(n), "emailId": "1", "kind": "OPEN",
                 "occurredAt": "2026-12-04T18:00:00+00:00", "source": "HUMAN", "url": None,
                 "recipient": None, "duplicate": False, "rule": "human",
                 "userAgent": "Mozilla/5.0 (Windows NT 10.0) Thunderbird/128.0"}}
                for n in range(first, min(first + batch, events))]
    if batched:
        publisher.publish_many([(channel, encode_messages(messages))])
    else:
        publisher.publish_many([(channel, json.dumps(m)) for m in messages])
print(time.process_time() - start)
"""


async def live_section(args: argparse.Namespace, settings: Any) -> list[dict[str, Any]]:
    from plugin.live.bus import LiveBus, channel_name

    bus = LiveBus(settings, queue_size=args.events + 1)
    await bus.start()
    results = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        async with bus.subscribe(1) as subscription:
            channel = channel_name(settings, 1)
            totals = {0: [0.0, 0.0], 1: [0.0, 0.0]}
            for batched in (0, 1, 0, 1):
                cpu0 = time.process_time()
                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", PUBLISHER, settings.redis_url, channel,
                    str(args.events), str(args.batch), str(batched),
                    env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
                for _ in range(args.events):
                    await asyncio.wait_for(subscription.get(), 30)
                out, _ = await child.communicate()
                totals[batched][0] += time.process_time() - cpu0
                totals[batched][1] += float(out.decode().strip())
        events = 2 * args.events
        row = {"batch": args.batch, "events": events,
               "one message per event": {"serve_cpu_us": totals[0][0] / events * 1e6,
                                         "publish_cpu_us": totals[0][1] / events * 1e6},
               "one message per batch": {"serve_cpu_us": totals[1][0] / events * 1e6,
                                         "publish_cpu_us": totals[1][1] / events * 1e6}}
        results.append(row)
        a, b = row["one message per event"], row["one message per batch"]
        print(f"  live transport batch {args.batch}: serve-side CPU/event "
              f"{a['serve_cpu_us']:.1f} -> {b['serve_cpu_us']:.1f} us "
              f"({b['serve_cpu_us'] / a['serve_cpu_us']:.2f}x), publisher CPU/event "
              f"{a['publish_cpu_us']:.1f} -> {b['publish_cpu_us']:.1f} us "
              f"({b['publish_cpu_us'] / a['publish_cpu_us']:.2f}x)", flush=True)
    finally:
        await bus.stop()
    return results


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    from plugin.db import migrate, open_orm
    from plugin.live.bus import close_publishers
    from plugin.settings import load_settings

    database, prefix = f"mbbell_{uuid.uuid4().hex[:8]}", f"mbbell:{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    data_dir = tempfile.mkdtemp(prefix="mb-bell-")
    try:
        settings = load_settings({
            "MAILBEACON_ENV": "test", "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
            "MAILBEACON_DATA_DIR": data_dir,
            "MAILBEACON_DATABASE_URL": f"{PG}/{database}", "MAILBEACON_REDIS_URL": REDIS,
            "MAILBEACON_REDIS_PREFIX": prefix})
        await migrate(settings)
        report: dict[str, Any] = {}
        print(f"bench_bell ({datetime.now(UTC):%H:%M:%S} UTC)", flush=True)
        async with open_orm(settings):
            report["bell"] = await bell_section(args, settings, admin, database)
        report["live"] = await live_section(args, settings)
        close_publishers()
        print("RESULT", json.dumps(report))
    finally:
        await drop_bench_storage(admin, database, REDIS, prefix)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--events", type=int, default=20000)
    # The last commit of main before the batched bell: its batch.py is the baseline.
    parser.add_argument("--baseline-ref", default="9208450")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
