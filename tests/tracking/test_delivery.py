"""The hand-off and the pipeline lose nothing and count nothing twice; figures stay private."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from consent.models import ConsentSuppression
from consent.signing import keys_for
from plugin.runtime import current_runtime
from plugin.sending.models import SentEmail
from plugin.tracking.edge.handoff import GroupCommit, current_handoff, record_message
from plugin.tracking.edge.spool import Spool
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.ingest import ingest_hits
from plugin.tracking.pipeline.store import PENDING_RULE
from tests.conftest import GraphQL, UserFactory
from tests.tracking.tracked_mail import (
    THUNDERBIRD_UA,
    make_tracked_mail,
    wait_for_events,
    wait_until,
    wire_hit,
)


async def test_a_redelivered_batch_never_stores_or_counts_twice(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    batch = [wire_hit(mail, at=now), wire_hit(mail, at=now + 1, ip="203.0.113.9")]
    first = await ingest_hits(batch, current_runtime())
    again = await ingest_hits(batch, current_runtime())  # e.g. a worker died before acknowledging
    assert [e.event_id for e in first] == [e.event_id for e in again]
    broker = current_runtime().broker
    broker.enqueue(record_message(batch))  # and once more through the queue
    broker.enqueue(record_message(batch))
    await asyncio.sleep(0.5)
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 2
    assert (await SentEmail.get(id=mail.email.id)).open_count == 2


async def test_hits_after_a_withdrawal_are_not_recorded(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id, recipients=["carl@example.org"])
    await ConsentSuppression.create(
        address_hash=keys_for(settings).address_hashes("carl@example.org")[0]
    )
    assert await ingest_hits([wire_hit(mail, at=time.time())], current_runtime()) == []
    assert not await TrackingEvent.filter(email_id=mail.email.id).exists()


async def test_tracking_figures_belong_to_the_sender_alone(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    sender, other = await make_user(), await make_user(admin=True)
    opened = await make_tracked_mail(settings, sender.id)
    await make_tracked_mail(settings, sender.id)  # never opened
    await http.get(opened.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
    await wait_for_events(opened.email, 1)
    query = """query($id: ID!) { sentEmail(id: $id) { opened openCount firstOpenedAt lastOpenedAt
        clicked clickCount links { url clickCount } events { kind source duplicate } } }"""
    mine = (await gql(query, {"id": str(opened.email.id)}, user=sender))["data"]["sentEmail"]
    assert mine["opened"] is True and mine["openCount"] == 1
    assert mine["firstOpenedAt"] == mine["lastOpenedAt"] is not None
    assert mine["links"] == [
        {"url": "https://example.com/a", "clickCount": 0},
        {"url": "https://example.com/b", "clickCount": 0},
    ]
    assert mine["events"] == [{"kind": "OPEN", "source": "HUMAN", "duplicate": False}]
    theirs = await gql(query, {"id": str(opened.email.id)}, user=other)
    assert theirs["data"]["sentEmail"] is None  # an admin included: as if it did not exist
    listing = """query($f: SentEmailFilter) { sentEmails(filter: $f) { totalCount
        edges { node { id opened } } } }"""
    found = (await gql(listing, {"f": {"opened": True}}, user=sender))["data"]["sentEmails"]
    assert [e["node"]["id"] for e in found["edges"]] == [str(opened.email.id)]
    not_opened = (await gql(listing, {"f": {"opened": False}}, user=sender))["data"]["sentEmails"]
    assert not_opened["totalCount"] == 1 and not_opened["edges"][0]["node"]["opened"] is False
    assert (await gql(listing, {"f": {"opened": True}}, user=other))["data"]["sentEmails"][
        "totalCount"
    ] == 0


async def test_group_commit_batches_concurrent_hits_and_reports_failures() -> None:
    batches: list[list[dict[str, Any]]] = []

    async def sink(batch: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0.01)  # a round trip
        batches.append(batch)

    commit = GroupCommit(sink)
    await asyncio.gather(*(commit.submit({"n": i}) for i in range(500)))
    assert sorted(h["n"] for b in batches for h in b) == list(range(500))
    assert len(batches) <= 3  # the first hit alone, then everything that queued behind it

    async def broken(batch: list[dict[str, Any]]) -> None:
        raise ConnectionError("queue down")

    failing = GroupCommit(broken)
    results = await asyncio.gather(*(failing.submit({}) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    await commit.close()


def test_the_spool_replays_what_was_not_recorded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1)  # one batch per segment
    first = spool.append([{"id": "a"}])
    spool.append([{"id": "b"} for _ in range(10)])  # rotates: a new segment
    spool.done(first)
    assert len(list(tmp_path.glob("hits-*.jsonl"))) == 1  # the recorded segment is gone
    spool.close()
    # A crash: a torn last line (its fsync never returned, so nobody got an answer).
    [left] = tmp_path.glob("hits-*.jsonl")
    with left.open("ab") as handle:
        handle.write(b'{"n": 9, "b": [{"id": "torn"')
    again = Spool(tmp_path)
    replayed = list(again.recover())
    assert [[h["id"] for h in batch] for _, batch in replayed] == [["b"] * 10]
    for receipt, _ in replayed:
        again.done(receipt)
    assert list(tmp_path.glob("hits-*.jsonl")) == []


def test_the_spool_forgets_recorded_batches_behind_a_backlog(tmp_path: Path) -> None:
    spool = Spool(tmp_path)  # one segment for everything
    receipts = [spool.append([{"id": str(n), "ip": f"198.51.100.{n}"}]) for n in range(5)]
    for receipt in receipts[:3]:
        spool.done(receipt)  # recorded while the last two still wait
    assert spool.compact(force=True) == 1
    text = b"".join(path.read_bytes() for path in tmp_path.glob("hits-*"))
    assert b"198.51.100.0" not in text and b"198.51.100.2" not in text
    assert b"198.51.100.3" in text and b"198.51.100.4" in text
    spool.append([{"id": "5", "ip": "198.51.100.5"}])  # appending goes on after a rewrite
    spool.close()
    replayed = [batch[0]["id"] for _, batch in Spool(tmp_path).recover()]
    assert replayed == ["3", "4", "5"]


async def test_thousands_of_concurrent_hits_are_each_stored_exactly_once(
    server: str, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    handoff = current_handoff()
    assert handoff is not None
    batches_before = handoff.batches
    total, concurrency = 2000, 64
    paths = [mail.open_path() if i % 4 else mail.click_path(1 + i % 2) for i in range(total)]
    statuses: list[int] = []

    # One client per lane: httpx's pool slows down quadratically with queued requests.
    async def lane(first: int) -> None:
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            for i in range(first, total, concurrency):
                response = await client.get(paths[i], headers={"User-Agent": f"Load/{i} (x)"})
                statuses.append(response.status_code)

    await asyncio.gather(*(lane(n) for n in range(concurrency)))
    assert statuses.count(200) == total * 3 // 4 and statuses.count(302) == total // 4

    async def all_stored() -> bool:
        return await TrackingEvent.filter(email_id=mail.email.id).count() >= total

    async def all_decided() -> bool:
        return not await TrackingEvent.filter(email_id=mail.email.id, rule=PENDING_RULE).exists()

    await wait_until(all_stored, timeout=120)
    await wait_until(all_decided, timeout=120)  # leave an idle pipeline to the next test
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == total
    # Many hits shared each hand-off (group commit), rather than one write per hit.
    assert handoff.batches - batches_before < total
