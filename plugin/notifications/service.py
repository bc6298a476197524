"""The notification bell: turn counted HUMAN events into notifications, list them, mark them read.

Coalescing: while a notification for the same email, kind, link (clicks) and
recipient (per-recipient copies) is unread, new activity bumps its ``count``
and ``updated_at``; once read, new activity starts a new one. Everything is
scoped to the owner.

Ordering: newest first by ``updated_at`` (the most recent activity), then id,
so a coalesced notification that rings again comes back to the top of the bell.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise import timezone
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from plugin.errors import ValidationError
from plugin.notifications.models import Notification, NotificationKind
from plugin.observability.metrics import record_notification
from plugin.preferences.service import get_preferences
from plugin.sending.models import SentEmail
from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

__all__ = [
    "InvalidNotificationMessage",
    "NotificationPage",
    "get_notification",
    "list_notifications",
    "mark_read",
    "notify_for_event",
    "unread_count",
]


class InvalidNotificationMessage(ValidationError):
    """A queue message that can never succeed (retrying it would not help)."""

    code = "INVALID_MESSAGE"


@dataclass(frozen=True)
class NotificationPage:
    notifications: list[Notification]
    has_next_page: bool
    total_count: int


def _parse_event_id(event_id: object) -> uuid.UUID:
    if not isinstance(event_id, str):
        kind = type(event_id).__name__
        raise InvalidNotificationMessage(f"event id must be a string, got {kind}")
    try:
        return uuid.UUID(event_id)
    except ValueError:
        raise InvalidNotificationMessage(f"event id {event_id[:80]!r} is not a UUID") from None


async def notify_for_event(event_id: object) -> Notification | None:
    """Ring the sender's bell for one stored event; None when nothing is to be done.

    Idempotent: the event's ``notified`` flag is claimed in the same transaction as
    the notification is written, so a redelivered message changes nothing.
    """
    key = _parse_event_id(event_id)
    event = await TrackingEvent.get_or_none(event_id=key).select_related("link")
    if event is None or event.notified:
        return None  # erased since, or already notified
    if event.source != EventSourceField.HUMAN or event.duplicate:
        return None  # MACHINE, BOT and SELF events, and repeats, never ring
    if not (await get_preferences(event.user_id)).notifications_enabled:  # type: ignore[attr-defined]
        return None
    clicked = event.kind == EventKind.CLICK
    kind = NotificationKind.LINK_CLICKED if clicked else NotificationKind.EMAIL_OPENED
    link_id = event.link_id if clicked else None  # type: ignore[attr-defined]
    async with in_transaction() as conn:
        # The claim is the first write: it takes SQLite's write lock at once and, on
        # PostgreSQL, makes a concurrent redelivery of the same event wait and then see 0.
        claimed = await TrackingEvent.filter(id=event.id, notified=False).using_db(conn).update(
            notified=True
        )
        if not claimed:
            return None
        # Serialise notifications of one email so two events cannot both create one.
        await SentEmail.filter(id=event.email_id).using_db(conn).select_for_update().first()  # type: ignore[attr-defined]
        now = timezone.now()
        existing = (
            await Notification.filter(
                user_id=event.user_id,  # type: ignore[attr-defined]
                email_id=event.email_id,  # type: ignore[attr-defined]
                kind=kind,
                link_id=link_id,
                recipient=event.recipient,
                read_at__isnull=True,
            )
            .using_db(conn)
            .order_by("-id")
            .first()
        )
        if existing is not None:
            await Notification.filter(id=existing.id).using_db(conn).update(
                count=F("count") + 1, updated_at=now
            )
            notification_id = existing.id
            coalesced = True
        else:
            created = await Notification.create(
                user_id=event.user_id,  # type: ignore[attr-defined]
                email_id=event.email_id,  # type: ignore[attr-defined]
                link_id=link_id,
                kind=kind,
                url=event.link.url if clicked and event.link else None,
                recipient=event.recipient,
                count=1,
                updated_at=now,
                using_db=conn,
            )
            notification_id = created.id
            coalesced = False
    record_notification(coalesced=coalesced)
    return await Notification.get(id=notification_id)


async def get_notification(owner_id: int, notification_id: int) -> Notification | None:
    """The owner's notification with its email, or None."""
    return await Notification.get_or_none(id=notification_id, user_id=owner_id).select_related(
        "email"
    )


async def list_notifications(
    owner_id: int,
    *,
    unread_only: bool = False,
    first: int,
    after: tuple[datetime, int] | None = None,
) -> NotificationPage:
    """Newest activity first (``updated_at``, then id)."""
    base = Q(user_id=owner_id)
    if unread_only:
        base &= Q(read_at__isnull=True)
    query = Notification.filter(base)
    if after is not None:
        when, row_id = after
        query = query.filter(Q(updated_at__lt=when) | Q(updated_at=when, id__lt=row_id))
    rows = await query.order_by("-updated_at", "-id").limit(first + 1).select_related("email")
    total = await Notification.filter(base).count()
    return NotificationPage(
        notifications=rows[:first], has_next_page=len(rows) > first, total_count=total
    )


async def unread_count(owner_id: int) -> int:
    return await Notification.filter(user_id=owner_id, read_at__isnull=True).count()


def _valid_ids(ids: Iterable[object]) -> list[int]:
    """Integer ids in range; anything else is nobody's notification and is ignored."""
    valid: list[int] = []
    for raw in ids:
        try:
            value = int(str(raw))
        except ValueError:
            continue
        if 0 < value < 2**31:
            valid.append(value)
    return valid


async def mark_read(
    owner_id: int, *, ids: Iterable[object] | None = None, all: bool = False
) -> int:
    """Mark the owner's unread notifications read; return how many changed.

    ``all`` marks every unread one; otherwise only ``ids`` (unknown and foreign ids
    are silently ignored, already-read ones do not count as changed).
    """
    query = Notification.filter(user_id=owner_id, read_at__isnull=True)
    if not all:
        valid = _valid_ids(ids or ())
        if not valid:
            return 0
        query = query.filter(id__in=valid)
    return int(await query.update(read_at=timezone.now()))
