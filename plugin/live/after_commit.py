"""What happens after tracking events are committed: publish, notify, run host hooks.

The tracking pipeline calls ``after_events_committed`` once per committed batch,
outside its transaction. Every event (every source) goes to its owner's live
channel; counted HUMAN events are handed to the notification actor; then the
``after_tracking_event`` hooks run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from plugin.hooks import RecordedEvent, registry
from plugin.jobs import enqueue_async
from plugin.live.bus import Message, publish
from plugin.runtime import current_runtime
from plugin.tracking.models import TrackingEvent

__all__ = ["NOTIFY_ACTOR", "NOTIFY_BATCH_ACTOR", "after_events_committed", "event_message"]

log = logging.getLogger("mailbeacon.live")

NOTIFY_ACTOR = "notify_tracking_event"
NOTIFY_BATCH_ACTOR = "notify_tracking_events"


def event_message(event: RecordedEvent, row: dict[str, Any] | None) -> Message:
    """The live ``trackingEvents`` payload of one event (JSON-compatible).

    ``row`` holds the stored ``id``, ``occurred_at``, ``duplicate``, ``rule`` and
    ``user_agent``; the id is the one ``SentEmail.events`` shows, so a client can merge
    live and listed events. The rule and user agent let the subscription say who
    opened on what (parsed where it is shown, off the recording path); the channel is
    the owner's alone, like the stored event.
    """
    occurred = row["occurred_at"] if row else datetime.now(UTC)
    return {
        "type": "event",
        "event": {
            "id": str(row["id"]) if row else event.event_id,
            "emailId": str(event.email_id),
            "kind": event.kind,
            "occurredAt": occurred.isoformat(),
            "source": event.source,
            "url": event.url,
            "recipient": event.recipient,
            "duplicate": bool(row["duplicate"]) if row else not event.counted,
            "rule": row["rule"] if row else None,
            "userAgent": str(row["user_agent"]) if row else "",
        },
    }


async def _stored_rows(events: Sequence[RecordedEvent]) -> dict[str, dict[str, Any]]:
    rows = await TrackingEvent.filter(event_id__in=[e.event_id for e in events]).values(
        "id", "event_id", "occurred_at", "duplicate", "rule", "user_agent"
    )
    return {str(row["event_id"]): row for row in rows}


async def after_events_committed(
    events: Sequence[RecordedEvent], stored: Mapping[str, dict[str, Any]] | None = None
) -> None:
    """Fan out one committed batch. Publishing and hooks never raise; enqueueing may.

    An enqueue failure (the queue is down) is raised after everything else was
    attempted, so the caller can retry: the notification actor is idempotent per
    event, and a repeated live message is harmless.
    """
    if not events:
        return
    settings = current_runtime().settings
    try:
        # The pipeline passes what it stored (by event id); other callers are read back.
        rows = dict(stored) if stored is not None else await _stored_rows(events)
    except Exception:
        log.exception("live: reading the stored events failed; publishing without them")
        rows = {}
    await publish(settings, [(e.user_id, event_message(e, rows.get(e.event_id))) for e in events])

    enqueue_error: Exception | None = None
    to_notify = [e.event_id for e in events if e.counted and e.source == "HUMAN"]
    if to_notify:
        try:
            # One message for the whole batch: never one queue round trip per event.
            await enqueue_async(NOTIFY_BATCH_ACTOR, to_notify)
        except Exception as exc:
            log.error(
                "live: enqueueing the notifications of %d event(s) failed: %s", len(to_notify), exc
            )
            enqueue_error = exc

    for event in events:
        try:
            await registry.call_all("after_tracking_event", event)
        except Exception:  # a host's hook must not break the pipeline
            log.exception("after_tracking_event hook failed for event %s", event.event_id)
    if enqueue_error is not None:
        raise enqueue_error
