"""Ring the bell for one counted HUMAN event, then tell the owner's live subscribers."""

from __future__ import annotations

import logging

import dramatiq

from plugin.live.publishing import publish_notification
from plugin.notifications.service import InvalidNotificationMessage, notify_for_event
from plugin.runtime import current_runtime

__all__ = ["notify_tracking_event"]

log = logging.getLogger("mailbeacon.notifications")


# Transient failures (database restart, lock timeout) are retried with backoff for
# about two minutes; a message that can never succeed is dead-lettered at once.
@dramatiq.actor(
    queue_name="notifications",
    max_retries=6,
    min_backoff=500,
    max_backoff=30_000,
    throws=(InvalidNotificationMessage,),
)
async def notify_tracking_event(event_id: str) -> None:
    """Idempotent per event: a redelivered message changes nothing and publishes nothing."""
    try:
        notification = await notify_for_event(event_id)
    except InvalidNotificationMessage as exc:
        log.error("dead-lettering a poisoned notification message: %s", exc.message)
        raise
    if notification is not None:
        # After commit: the service's transaction is closed when it returns.
        await publish_notification(current_runtime().settings, notification)
