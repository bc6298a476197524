"""Ring the bell for counted HUMAN events, then tell the owners' live subscribers."""

from __future__ import annotations

import logging

import dramatiq

from plugin.live.publishing import publish_notification, publish_notifications
from plugin.notifications.batch import notify_for_events
from plugin.notifications.service import InvalidNotificationMessage, notify_for_event
from plugin.runtime import current_runtime

__all__ = ["notify_tracking_event", "notify_tracking_events"]

log = logging.getLogger("mailbeacon.notifications")


async def _notify(event_id: str) -> None:
    try:
        notification = await notify_for_event(event_id)
    except InvalidNotificationMessage as exc:
        log.error("dead-lettering a poisoned notification message: %s", exc.message)
        raise
    if notification is not None:
        # After commit: the service's transaction is closed when it returns.
        await publish_notification(current_runtime().settings, notification)


# Transient failures (database restart, lock timeout) are retried with backoff for
# about two minutes; a message that can never succeed is dead-lettered at once.
@dramatiq.actor(
    actor_name="notify_tracking_event",
    queue_name="notifications",
    max_retries=6,
    min_backoff=500,
    max_backoff=30_000,
    throws=(InvalidNotificationMessage,),
)
async def notify_tracking_event(event_id: str) -> None:
    """Idempotent per event: a redelivered message changes nothing and publishes nothing."""
    await _notify(event_id)


@dramatiq.actor(
    actor_name="notify_tracking_events", queue_name="notifications",
    max_retries=6, min_backoff=500, max_backoff=30_000,
)
async def notify_tracking_events(event_ids: list[str]) -> None:
    """The events of one recorded batch: one message, one transaction, coalesced per email.

    A transient failure retries the whole batch, which is safe: each event is notified
    at most once. A malformed id is logged and skipped, not allowed to poison the rest.
    """
    if not isinstance(event_ids, list):
        log.error("dead-lettering a poisoned notification message: %.80r", event_ids)
        raise InvalidNotificationMessage("a batch of event ids must be a list")
    rung = await notify_for_events(event_ids)
    if rung:
        # After commit, in one publish: one live message per owner for the whole batch.
        await publish_notifications(current_runtime().settings, rung)
