"""What happens after tracking events are committed: publish, notify, run host hooks.

Every event (every source) goes to its owner's live channel; counted HUMAN events
are handed to the notification actor; then the ``after_tracking_event`` hooks run.
The tracking pipeline hands the events to the notifications inside its transaction
(``hand_to_notifications``: the job goes out when it commits) and announces them
after it (``announce_committed``); ``after_events_committed`` does all three for
events committed elsewhere. It is the pipeline's last step; ``plugin.live`` only
carries the messages (it knows no tracking event).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from plugin.hooks import RecordedEvent, registry
from plugin.jobs import JobName, enqueue_async
from plugin.live.bus import Message, publish
from plugin.settings import Settings
from plugin.tracking.models import TrackingEvent

__all__ = [
    "NOTIFY_EVENTS",
    "after_events_committed",
    "announce_committed",
    "event_message",
    "hand_to_notifications",
]

log = logging.getLogger("mailbeacon.live")

NOTIFY_EVENTS = JobName("notify_tracking_events", queue="notifications")


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


def _to_notify(events: Sequence[RecordedEvent]) -> list[str]:
    return [e.event_id for e in events if e.counted and e.source == "HUMAN"]


async def hand_to_notifications(events: Sequence[RecordedEvent]) -> None:
    """Hand the counted HUMAN events to the notification actor, in one message (never one
    queue round trip per event); inside a transaction, it goes out when that commits."""
    to_notify = _to_notify(events)
    if to_notify:
        await enqueue_async(NOTIFY_EVENTS, to_notify)


async def _publish(
    events: Sequence[RecordedEvent],
    settings: Settings,
    stored: Mapping[str, dict[str, Any]] | None,
) -> None:
    try:
        # The pipeline passes what it stored (by event id); other callers are read back.
        rows = dict(stored) if stored is not None else await _stored_rows(events)
    except Exception:
        log.exception("live: reading the stored events failed; publishing without them")
        rows = {}
    await publish(settings, [(e.user_id, event_message(e, rows.get(e.event_id))) for e in events])


async def _run_hooks(events: Sequence[RecordedEvent]) -> None:
    for event in events:
        try:
            await registry.call_all("after_tracking_event", event)
        except Exception:  # a host's hook must not break the pipeline
            log.exception("after_tracking_event hook failed for event %s", event.event_id)


async def announce_committed(
    events: Sequence[RecordedEvent],
    settings: Settings,
    stored: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Publish committed events to their owners' live channels, then run the hooks.
    Never raises."""
    if events:
        await _publish(events, settings, stored)
        await _run_hooks(events)


async def after_events_committed(
    events: Sequence[RecordedEvent],
    settings: Settings,
    stored: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Fan out one committed batch. Publishing and hooks never raise; enqueueing may.

    An enqueue failure (the queue is down) is raised after everything else was
    attempted, so the caller can retry: the notification actor is idempotent per
    event, and a repeated live message is harmless.
    """
    if not events:
        return
    await _publish(events, settings, stored)
    enqueue_error: Exception | None = None
    try:
        await hand_to_notifications(events)
    except Exception as exc:
        log.error(
            "live: enqueueing the notifications of %d event(s) failed: %s",
            len(_to_notify(events)), exc,
        )
        enqueue_error = exc
    await _run_hooks(events)
    if enqueue_error is not None:
        raise enqueue_error
