"""The notification bell: turn counted HUMAN events into notifications, mark them read.

Coalescing: while a notification for the same email, kind, link (clicks) and
recipient (per-recipient copies) is unread, new activity bumps its ``count``
and ``updated_at``; once read, new activity starts a new one. The queries are in
``plugin.notifications.repository``, scoped to the owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from plugin.errors import ErrorCode, ValidationError
from plugin.notifications import repository
from plugin.notifications.batch import RungNotification, notify_for_events

__all__ = ["InvalidNotificationMessage", "mark_read", "notify_for_event"]


class InvalidNotificationMessage(ValidationError):
    """A queue message that can never succeed (retrying it would not help)."""

    code = ErrorCode.INVALID_MESSAGE


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
    if all:
        return await repository.mark_read(owner_id, None)
    valid = _valid_ids(ids or ())
    if not valid:
        return 0
    return await repository.mark_read(owner_id, valid)
