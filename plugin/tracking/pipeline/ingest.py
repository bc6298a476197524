"""The tracking pipeline: classify queued hits, store them once, move the figures, tell others.

``ingest_hits`` takes one queued batch: it drops hits on unknown copies and on
copies whose recipients withdrew consent, classifies the rest against what
storage knows about the same client (same keyed address hash and user agent)
on the same copy, and inserts them with the aggregates in one transaction.
Event ids come from the edge, so a redelivered batch stores and counts nothing
twice. A click that looks human is stored as *pending* and decided by
the ``finalise_clicks`` actor once its burst window has passed, so that no figure and no
notification ever shows a click that later turns out to be a scanner's
(plugin.tracking.pipeline.held_clicks).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from plugin.hooks import RecordedEvent, registry
from plugin.jobs import JobName, enqueue_async
from plugin.observability.metrics import record_events
from plugin.runtime import Runtime
from plugin.settings import Settings
from plugin.tracking.edge.hits import EdgeHit, client_hash, client_prefix, dashed_uuid, uuid_hex
from plugin.tracking.pipeline.after_commit import announce_committed, hand_to_notifications
from plugin.tracking.pipeline.batch_context import (
    CopyInfo,
    PriorIndex,
    client_key,
    load_copies,
    load_links,
    load_priors,
    self_event_ids,
)
from plugin.tracking.pipeline.classify import ClassifierSettings, Hit, HitKind, classify
from plugin.tracking.pipeline.store import (
    PENDING_RULE,
    EventRow,
    bump_aggregates,
    insert_events,
    lock_copies,
    stored_verdicts,
)
from plugin.transaction import transaction

__all__ = ["FINALISE_CLICKS", "classifier_settings", "ingest_hits", "recorded_event"]

log = logging.getLogger(__name__)

FINALISE_CLICKS = JobName("finalise_clicks", queue="tracking")
_FINALISE_MARGIN_SECONDS = 0.5


def classifier_settings(settings: Settings) -> ClassifierSettings:
    return ClassifierSettings(
        apple_networks=settings.apple_networks,
        scanner_window_seconds=settings.scanner_window_seconds,
        burst_window_seconds=settings.burst_window_seconds,
        duplicate_window_seconds=settings.duplicate_window_seconds,
    )


def _parse(raw_hits: Iterable[Any]) -> list[EdgeHit]:
    seen: set[str] = set()
    hits = []
    for raw in raw_hits:
        hit = EdgeHit.from_wire(raw)
        if hit is not None and hit.event_id not in seen:
            seen.add(hit.event_id)
            hits.append(hit)
    return hits


async def _admissible(hits: list[EdgeHit], copies: Mapping[str, CopyInfo]) -> list[EdgeHit]:
    """Hits on known copies whose recipients still allow recording: the
    ``before_hits_recorded`` hook (consent's event-time gate) vetoes the others."""
    wanted = {hit.copy_id for hit in hits if hit.copy_id in copies}
    everyone = sorted({r for public_id in wanted for r in copies[public_id].recipients})
    # One question for the whole batch in the usual case (nobody refused); only when
    # someone did is each copy asked on its own.
    if not await registry.vetoed("before_hits_recorded", everyone):
        return [hit for hit in hits if hit.copy_id in wanted]
    allowed = {
        public_id: not await registry.vetoed("before_hits_recorded", copies[public_id].recipients)
        for public_id in wanted
    }
    return [hit for hit in hits if allowed.get(hit.copy_id, False)]


def recorded_event(row: EventRow) -> RecordedEvent:
    return RecordedEvent(
        event_id=dashed_uuid(row.event_id),
        user_id=row.user_id,
        email_id=row.email_id,
        kind=row.kind,
        source=row.source,
        counted=row.counts,
        url=row.url,
        recipient=row.recipient,
    )


async def ingest_hits(raw_hits: Sequence[Any], runtime: Runtime) -> list[RecordedEvent]:
    """Record one batch of queued hits (idempotent); return the events decided and committed.

    ``runtime``: the process's (its settings, and its Redis for the SELF clients)."""
    settings = runtime.settings
    hits = _parse(raw_hits)
    copies = await load_copies({hit.copy_id for hit in hits})
    hits = await _admissible(hits, copies)
    if not hits:
        return []
    links = await load_links({copies[hit.copy_id].email_id for hit in hits})
    selfs = await self_event_ids(runtime, hits, copies)
    hashes = {hit.event_id: client_hash(settings, hit.client_ip) for hit in hits}
    cset = classifier_settings(settings)
    # The finalise and notification jobs are held by the transaction: they go out once it
    # has committed (a failed send raises, and the batch is retried), never on rollback.
    async with transaction() as conn:
        # Concurrency truth: consumers recording hits of the same copies at the same
        # instant take turns from here to commit, so each sees the other's events when it
        # classifies (two fetches of one client count one open, across processes).
        await lock_copies(conn, {copies[hit.copy_id].id for hit in hits})
        priors = await load_priors(
            [(copies[h.copy_id].id, hashes[h.event_id], h.user_agent, h.occurred_at) for h in hits],
            cset,
            links,
            conn,
        )
        rows = [
            _classified(hit, copies[hit.copy_id], hashes[hit.event_id], priors, links, selfs, cset)
            for hit in sorted(hits, key=lambda h: (h.occurred_at, h.event_id))
        ]
        inserted = await insert_events(conn, rows)
        for row in rows:
            row.row_id = inserted.get(row.event_id)
        await bump_aggregates(
            conn, [row for row in rows if row.event_id in inserted and row.counts]
        )
        if len(inserted) < len(rows):
            await _take_stored_verdicts([row for row in rows if row.event_id not in inserted])
        # Every held click of the batch, even ones stored by an earlier delivery whose
        # finalise message may not have gone out: finalising twice is harmless.
        held_ids = [row.event_id for row in rows if row.rule == PENDING_RULE]
        if held_ids:
            delay = int((settings.burst_window_seconds + _FINALISE_MARGIN_SECONDS) * 1000)
            await enqueue_async(FINALISE_CLICKS, held_ids, delay_ms=delay)
        # A redelivered batch fans out again (with the stored verdicts): the first
        # delivery's may have failed, and its consumers are idempotent per event.
        decided = [row for row in rows if row.rule != PENDING_RULE]
        recorded = [recorded_event(row) for row in decided]
        await hand_to_notifications(recorded)
    _count_recorded([row for row in rows if row.event_id in inserted])
    await announce_committed(recorded, settings, _stored_facts(decided))
    return recorded


def _stored_facts(rows: Iterable[EventRow]) -> dict[str, dict[str, Any]]:
    """What the live messages show of each stored row, known here without reading it back."""
    return {
        dashed_uuid(row.event_id): {
            "id": row.row_id,
            "occurred_at": row.occurred_at,
            "duplicate": row.duplicate,
            "rule": row.rule,
            "user_agent": row.user_agent,
        }
        for row in rows
        if row.row_id is not None
    }


def _classified(
    hit: EdgeHit,
    copy: CopyInfo,
    chash: str,
    priors: PriorIndex,
    links: Mapping[tuple[int, int], tuple[int, str]],
    selfs: set[str],
    cset: ClassifierSettings,
) -> EventRow:
    """Classify one hit against what is known of its client, and note it for the next."""
    key = client_key(copy.id, chash, hit.user_agent)
    occurred = datetime.fromtimestamp(hit.occurred_at, UTC)
    verdict = classify(
        Hit(
            kind=hit.kind,
            method=hit.method,
            user_agent=hit.user_agent,
            client_ip=hit.client_ip,
            occurred_at=occurred,
            link_index=hit.link_index,
            honeypot=hit.honeypot,
        ),
        priors.context(key, hit.event_id, copy.accepted_at, is_self=hit.event_id in selfs),
        cset,
    )
    # A click that looks human waits for its burst window; anything else is final now.
    held = hit.kind is HitKind.CLICK and verdict.source == "HUMAN"
    link = links.get((copy.email_id, hit.link_index)) if hit.link_index else None
    row = EventRow(
        event_id=hit.event_id,
        user_id=copy.user_id,
        email_id=copy.email_id,
        copy_id=copy.id,
        link_id=link[0] if link else None,
        kind=hit.kind.value,
        source=verdict.source.value,
        rule=PENDING_RULE if held else verdict.rule,
        duplicate=verdict.duplicate,
        honeypot=hit.honeypot,
        recipient=copy.recipient,
        occurred_at=occurred,
        method=hit.method[:8],
        user_agent=hit.user_agent,
        client_hash=chash,
        client_prefix=client_prefix(hit.client_ip),
        url=link[1] if link else None,
    )
    priors.add(key, row, hit.link_index)
    return row


def _count_recorded(rows: Iterable[EventRow]) -> None:
    counts = Counter(
        (row.kind, "PENDING" if row.rule == PENDING_RULE else row.source, row.duplicate)
        for row in rows
    )
    for (kind, source, duplicate), count in counts.items():
        record_events(kind, source, duplicate=duplicate, count=count)


async def _take_stored_verdicts(rows: list[EventRow]) -> None:
    """Rows stored by an earlier delivery keep the verdict stored then, not today's."""
    wanted = [dashed_uuid(row.event_id) for row in rows]
    stored = await stored_verdicts(wanted)
    by_id = {uuid_hex(s["event_id"]): s for s in stored}
    for row in rows:
        found = by_id.get(row.event_id)
        if found is None:  # cannot happen (the insert conflicted), but never report a guess
            row.rule = PENDING_RULE
            continue
        row.row_id = int(found["id"])
        row.source = str(getattr(found["source"], "value", found["source"]))
        row.rule = str(found["rule"])
        row.duplicate = bool(found["duplicate"])
