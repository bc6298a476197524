"""The consumer side: batches formed where hits are consumed, exact counts under concurrency,
dead consumers' work taken over, and no raw client address left on disk."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from plugin.notifications.models import Notification
from plugin.runtime import current_runtime
from plugin.sending.models import SentEmail
from plugin.tracking.edge.handoff import current_handoff
from plugin.tracking.edge.hit_stream import StreamSource, stream_sink
from plugin.tracking.edge.spool import Spool
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.consumer import HitConsumer, LocalSource
from plugin.tracking.pipeline.ingest import ingest_hits
from tests.conftest import UserFactory
from tests.tracking.tracked_mail import make_tracked_mail, wait_until, wire_hit


class Recorder:
    """An ingest that remembers the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def __call__(self, hits: Sequence[Any]) -> None:
        self.batches.append(list(hits))


async def _run_until(consumer: HitConsumer, done: Any) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(done, timeout=15)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)


async def test_hits_that_arrived_one_by_one_are_recorded_as_one_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    local = LocalSource(spool)
    for n in range(50):  # fifty requests, one hit each, while the consumer was busy
        batch = [{"id": n, "ip": f"192.0.2.{n}"}]
        local.put(spool.append(batch), batch)
    recorder = Recorder()
    consumer = HitConsumer(local, recorder, max_hits=1000)

    async def all_recorded() -> bool:
        return sum(len(b) for b in recorder.batches) == 50

    await _run_until(consumer, all_recorded)
    assert len(recorder.batches) == 1  # one transaction for the fifty
    assert list(tmp_path.glob("hits-*")) == []  # recorded: gone from disk


async def test_a_hit_after_a_quiet_spell_is_handed_out_at_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    local = LocalSource(spool, gather_seconds=3600)  # a gathering wait would hang the test
    batch = [{"id": 1}]
    local.put(spool.append(batch), batch)
    delivery = await asyncio.wait_for(local.fetch(1000, 1000), 30)
    assert delivery is not None and delivery.hits == batch
    assert local.waiting() == 0


async def test_hits_of_a_stream_are_gathered_into_one_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    local = LocalSource(spool, gather_seconds=2)
    first = [{"id": 1}]
    local.put(spool.append(first), first)
    assert (await local.fetch(1000, 1000)) is not None  # the stream starts: taken at once
    second, third = [{"id": 2}], [{"id": 3}]
    local.put(spool.append(second), second)
    fetching = asyncio.create_task(local.fetch(1000, 1000))
    await asyncio.sleep(0)  # the fetch sees a hit right after the last batch: it gathers
    assert not fetching.done()
    local.put(spool.append(third), third)  # arrives while the batch gathers
    delivery = await asyncio.wait_for(fetching, 30)
    assert delivery is not None and delivery.hits == second + third
    assert len(delivery.receipts) == 2 and local.waiting() == 0


async def test_a_full_batch_is_not_held_back_to_gather(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    local = LocalSource(spool, gather_seconds=3600)
    first = [{"id": 0}]
    local.put(spool.append(first), first)
    assert (await local.fetch(10, 1000)) is not None
    backlog = [{"id": n} for n in range(1, 11)]  # max_hits already waiting
    local.put(spool.append(backlog), backlog)
    delivery = await asyncio.wait_for(local.fetch(10, 1000), 30)
    assert delivery is not None and delivery.hits == backlog


async def test_a_failed_batch_is_retried_until_it_is_recorded(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    local = LocalSource(spool)
    batch = [{"id": 1}]
    local.put(spool.append(batch), batch)
    attempts: list[int] = []

    async def flaky(hits: Sequence[Any]) -> None:
        attempts.append(len(hits))
        if len(attempts) < 3:
            raise ConnectionError("database restarting")

    consumer = HitConsumer(local, flaky)

    async def recorded() -> bool:
        return consumer.hits == 1

    await _run_until(consumer, recorded)
    assert attempts == [1, 1, 1] and spool.pending_batches() == 0


async def test_the_stream_batches_at_the_consumer_and_dead_consumers_work_is_taken_over(
    settings: Any, redis_client: Any
) -> None:
    key = f"{settings.redis_prefix}:test-hits:{uuid.uuid4().hex[:8]}"
    sink = stream_sink(redis_client, key)
    try:
        for n in range(30):  # thirty lone hits, one entry each
            await sink([{"id": n}])
        dead = StreamSource(redis_client, key, consumer="dead", claim_idle_ms=200)
        taken = await dead.fetch(max_hits=1000, block_ms=100)
        assert taken is not None and len(taken.hits) == 30 and len(taken.receipts) == 30
        # "dead" never acknowledges; a live consumer takes its entries over once idle.
        live = StreamSource(redis_client, key, consumer="live", claim_idle_ms=200)
        assert await live.fetch(max_hits=1000, block_ms=50) is None  # not idle long enough
        live._claim_due = 0.0  # (it looks again every 10 s; the test does not wait for that)
        await asyncio.sleep(0.3)
        claimed = await live.fetch(max_hits=1000, block_ms=50)
        assert claimed is not None and claimed.claimed
        assert sorted(h["id"] for h in claimed.hits) == list(range(30))
        await live.ack(claimed)
        assert await redis_client.xlen(key) == 0  # acknowledged entries are deleted
        await live.retire()
        await dead.retire()
    finally:
        await redis_client.delete(key)


async def test_two_consumers_recording_one_client_at_the_same_instant_count_one_open(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    for round_ in range(5):  # each round: the same client twice, in two batches at once
        at = now + round_ * 100
        first, second = wire_hit(mail, at=at), wire_hit(mail, at=at + 0.001)
        runtime = current_runtime()
        await asyncio.gather(ingest_hits([first], runtime), ingest_hits([second], runtime))
    events = await TrackingEvent.filter(email_id=mail.email.id)
    assert len(events) == 10
    assert sorted(e.duplicate for e in events) == [False] * 5 + [True] * 5
    assert (await SentEmail.get(id=mail.email.id)).open_count == 5


async def test_a_batch_rings_the_bell_once_per_email(
    make_user: UserFactory, settings: Any
) -> None:
    from plugin.notifications.batch import notify_for_events

    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    hits = [wire_hit(mail, at=now, ip=f"198.51.100.{n}") for n in range(40)]
    recorded = await ingest_hits(hits, current_runtime())
    ids = [event.event_id for event in recorded]
    await wait_until(lambda: _notified(mail.email.id, 40), timeout=15)
    assert await notify_for_events(ids) == []  # a redelivered batch changes nothing
    [notification] = await Notification.filter(email_id=mail.email.id)
    assert notification.count == 40


async def _notified(email_id: int, count: int) -> bool:
    return await TrackingEvent.filter(email_id=email_id, notified=True).count() >= count


def _files_holding(directory: Path, needle: str) -> list[str]:
    """Files under ``directory`` containing ``needle``, found by grep in another process:
    opening and closing the SQLite files here would drop this process's SQLite locks
    (POSIX locks belong to the process, and any close releases them)."""
    found = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", "--", needle, str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode in (0, 1), found.stderr
    return found.stdout.splitlines()


async def test_no_raw_client_address_stays_on_disk_once_recorded(
    server: str, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    handoff = current_handoff()
    assert handoff is not None
    await handoff.submit(wire_hit(mail, at=time.time(), ip=address))  # the edge's own path

    async def stored() -> bool:
        return await TrackingEvent.filter(email_id=mail.email.id).exists()

    await wait_until(stored, timeout=15)

    async def forgotten() -> bool:
        return not _files_holding(settings.data_dir, address)

    await wait_until(forgotten, timeout=5)  # the promise: within 5 s of being recorded


async def test_live_messages_carry_the_stored_rows_without_reading_them_back(
    make_user: UserFactory, settings: Any, monkeypatch: Any
) -> None:
    """The pipeline hands the dispatcher what it stored (row id, time, verdict, user agent):
    first delivery and redelivery alike show exactly what the database holds."""
    import plugin.tracking.pipeline.after_commit as dispatch

    published: list[dict[str, Any]] = []

    async def capture(_settings: Any, items: Sequence[tuple[int, dict[str, Any]]]) -> None:
        published.extend(message["event"] for _user, message in items)

    async def no_read_back(_events: Any) -> dict[str, Any]:
        raise AssertionError("the pipeline's events were read back")

    monkeypatch.setattr(dispatch, "publish", capture)
    monkeypatch.setattr(dispatch, "_stored_rows", no_read_back)
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    hits = [wire_hit(mail, at=now + n / 10, ip=f"198.51.100.{n % 3}") for n in range(9)]
    for delivery in range(2):  # the second time, as a batch recorded but not acknowledged
        published.clear()
        await ingest_hits(hits, current_runtime())
        stored = {
            str(row["id"]): row
            for row in await TrackingEvent.filter(email_id=mail.email.id).values(
                "id", "occurred_at", "duplicate", "rule", "user_agent", "source"
            )
        }
        assert len(stored) == 9, delivery
        assert sorted(event["id"] for event in published) == sorted(stored)
        for event in published:
            row = stored[event["id"]]
            assert event["duplicate"] == row["duplicate"]
            assert event["rule"] == row["rule"]
            assert event["userAgent"] == row["user_agent"]
            assert event["source"] == str(getattr(row["source"], "value", row["source"]))
            assert datetime.fromisoformat(event["occurredAt"]) == row["occurred_at"]
        assert sum(not event["duplicate"] for event in published) == 3  # three clients


async def test_the_stream_gathers_a_steady_stream_but_reads_a_lone_hit_or_a_backlog_at_once(
    settings: Any, redis_client: Any
) -> None:
    key = f"{settings.redis_prefix}:test-hits:{uuid.uuid4().hex[:8]}"
    sink = stream_sink(redis_client, key)
    try:
        source = StreamSource(redis_client, key, consumer="c", gather_seconds=1.5)
        await sink([{"id": 0}])  # a lone hit: read at once
        started = time.monotonic()
        first = await source.fetch(max_hits=1000, block_ms=1000)
        assert first is not None and time.monotonic() - started < 1.0
        await sink([{"id": 1}])  # right after a batch: the read waits and gathers
        reading = asyncio.create_task(source.fetch(max_hits=1000, block_ms=1000))
        await asyncio.sleep(0.3)
        assert not reading.done()
        await sink([{"id": 2}])
        second = await asyncio.wait_for(reading, 30)
        assert second is not None and [h["id"] for h in second.hits] == [1, 2]

        backlog = StreamSource(redis_client, key, consumer="b", gather_seconds=3600)
        for n in range(3, 3 + 120):  # more entries than one read takes: read on at once
            await sink([{"id": n}])
        full = await backlog.fetch(max_hits=50, block_ms=1000)
        assert full is not None and len(full.receipts) == 50
        rest = await asyncio.wait_for(backlog.fetch(max_hits=50, block_ms=1000), 5)
        assert rest is not None and len(rest.hits) == 50

        await asyncio.sleep(1.6)  # a quiet spell longer than the gathering: at once again
        await sink([{"id": "late"}])
        started = time.monotonic()
        late = await source.fetch(max_hits=1000, block_ms=1000)
        assert late is not None and time.monotonic() - started < 1.0
    finally:
        await redis_client.delete(key)
