"""Live opens, clicks and notifications over WebSocket (graphql-transport-ws).

Each operation listens to the caller's own live channel only, so another user's
events can never reach it; ``emailId`` merely narrows that stream, which is why
an id of someone else's email (or a malformed one) yields nothing and reveals
nothing, exactly like an email of one's own that nobody opens.

``trackingEvents`` takes what is queued at once and, when the operation selects only
plain fields, hands the events on projected in batches (graphql_schema.projection):
the same messages, without executing the operation once per event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from graphql_schema.context import live_bus_of, require_user
from graphql_schema.projection import projection_of
from graphql_schema.types.client import EventClient
from graphql_schema.types.enums import EventSource, TrackingEventKind
from graphql_schema.types.notification import Notification
from graphql_schema.types.sent_email import TrackingEvent
from plugin.live.bus import Message
from plugin.notifications.repository import get_notifications
from plugin.tracking.pipeline.describe import present_event

__all__ = ["Subscription"]

# What each operation shows of its user's channel (the rest never fills its queue).
_EVENTS = frozenset({"event"})
_NOTIFICATIONS = frozenset({"notification"})


def _tracking_event(payload: Message) -> TrackingEvent:
    # Parsed here, where it is shown (cached per user agent), not on the recording path.
    client, description = present_event(
        str(payload["kind"]),
        str(payload["source"]),
        str(payload.get("rule") or ""),
        bool(payload.get("duplicate")),
        str(payload.get("userAgent") or ""),
    )
    return TrackingEvent(
        id=strawberry.ID(payload["id"]),
        email_id=strawberry.ID(payload["emailId"]),
        kind=TrackingEventKind(payload["kind"]),
        occurred_at=datetime.fromisoformat(payload["occurredAt"]),
        source=EventSource(payload["source"]),
        url=payload.get("url"),
        recipient=payload.get("recipient"),
        duplicate=bool(payload.get("duplicate")),
        client=EventClient.of(client),
        description=description,
        rule=payload.get("rule"),
    )


def _shown(message: Message, wanted: str | None) -> bool:
    return message.get("type") == "event" and (
        wanted is None or message["event"].get("emailId") == wanted
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Live opens and clicks on the caller's emails, every source."
    )
    async def tracking_events(
        self, info: Info, email_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TrackingEvent, None]:
        user = require_user(info)
        wanted = str(email_id).strip() if email_id is not None else None
        projection = projection_of(info)
        # The context manager's exit (in every case: complete, disconnect, error) unsubscribes.
        async with live_bus_of(info).subscribe(user.id, _EVENTS) as subscription:
            if projection is None:
                while True:
                    message = await subscription.get()
                    if _shown(message, wanted):
                        yield _tracking_event(message["event"])
            while True:
                messages = await subscription.get_ready()
                events = (_tracking_event(m["event"]) for m in messages if _shown(m, wanted))
                for source_event in projection.batches(events):
                    yield source_event

    @strawberry.subscription(description="A notification each time one is created or updated.")
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        user = require_user(info)
        async with live_bus_of(info).subscribe(user.id, _NOTIFICATIONS) as subscription:
            while True:
                # A bell batch arrives together: read back what is queued in one query.
                wanted = [
                    int(message["notificationId"])
                    for message in await subscription.get_ready()
                    if message.get("type") == "notification"
                ]
                # Read back under the caller's scope: what is sent is always current.
                found = await get_notifications(user.id, wanted)
                for notification_id in wanted:
                    notification = found.get(notification_id)
                    if notification is not None:
                        yield Notification.from_model(notification)
