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
from tortoise.expressions import Q

from plugin.errors import ErrorCode, ValidationError
from plugin.notifications.batch import RungNotification, notify_for_events
from plugin.notifications.models import Notification

__all__ = [
    "InvalidNotificationMessage",
    "NotificationPage",
    "get_notification",
    "get_notifications",
    "list_notifications",
    "mark_read",
    "notify_for_event",
    "unread_count",
]


class InvalidNotificationMessage(ValidationError):
    """A queue message that can never succeed (retrying it would not help)."""

    code = ErrorCode.INVALID_MESSAGE


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


async def notify_for_event(event_id: object) -> RungNotification | None:
    """Ring the sender's bell for one stored event; None when nothing is to be done.

    The batch path with one event (same claim, same per-email lock, so both kinds of
    message can be in flight at once); a malformed id raises instead of being skipped.
    """
    key = _parse_event_id(event_id)
    rung = await notify_for_events([str(key)])
    return rung[0] if rung else None


async def get_notification(owner_id: int, notification_id: int) -> Notification | None:
    """The owner's notification with its email, or None."""
    return await Notification.get_or_none(id=notification_id, user_id=owner_id).select_related(
        "email"
    )


async def get_notifications(owner_id: int, ids: Iterable[int]) -> dict[int, Notification]:
    """The owner's notifications among ``ids`` with their email, by id (one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await Notification.filter(id__in=wanted, user_id=owner_id).select_related("email")
    return {row.id: row for row in rows}


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
