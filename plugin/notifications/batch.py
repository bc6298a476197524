"""Ring the bell for a whole recorded batch: one transaction, coalesced per email.

The per-event path cost a transaction and a lock of the email per counted event,
which capped a flood of opens on one email at a few hundred a second. Here a
batch claims all its events at once (their ``notified`` flag, so a redelivered
message changes nothing), groups them by what a notification coalesces on
(user, email, kind, link, recipient), bumps every group that has an unread
notification in one statement and creates the others in one multi-row INSERT.
What the live channel needs (id, owner, email, time) comes from those statements:
nothing is read back.

Locking (PostgreSQL), always in this order, so concurrent batches cannot deadlock:
the claimed event rows (one UPDATE), then one transaction-scoped advisory lock per
email in id order (batches of the same email take turns from there to commit, so
two of them never both create a group's notification), then the notification rows
the bump touches. The advisory lock is not a lock of the email row: recording
(which updates the email's figures) never waits for the bell, nor the bell for it.
SQLite: the claim is the first write and takes the database's write lock.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.transactions import in_transaction

from plugin.notifications import repository
from plugin.notifications.models import NotificationKind
from plugin.notifications.repository import GroupKey
from plugin.observability.metrics import record_notification
from plugin.tracking.models import EventKind

__all__ = ["RungNotification", "notify_for_events"]

log = logging.getLogger("mailbeacon.notifications")


@dataclass(frozen=True)
class RungNotification:
    """A notification this batch created or bumped: what its owner's live channel is told."""

    id: int
    user_id: int
    email_id: int
    updated_at: datetime
    created: bool


def _valid_event_ids(event_ids: Sequence[object]) -> list[uuid.UUID]:
    """The well-formed ids; a malformed one is logged and skipped, never poisons the rest."""
    valid = []
    for raw in event_ids:
        try:
            if not isinstance(raw, str):
                raise ValueError(raw)
            valid.append(uuid.UUID(raw))
        except ValueError:
            log.error("skipping a malformed event id in a notification message: %.80r", raw)
    return valid


def _group_key(event: dict[str, Any]) -> GroupKey:
    clicked = event["kind"] in (EventKind.CLICK, EventKind.CLICK.value)
    kind = NotificationKind.LINK_CLICKED if clicked else NotificationKind.EMAIL_OPENED
    link_id = event["link_id"] if clicked else None
    return (int(event["user_id"]), int(event["email_id"]), kind, link_id, event["recipient"])


async def notify_for_events(event_ids: Sequence[object]) -> list[RungNotification]:
    """Ring the bell for these stored events; return the notifications created or bumped.

    Ordered by notification id. Idempotent per event; events that are not counted
    HUMAN ones, already notified, erased, or whose owner switched notifications off
    ring nothing.
    """
    keys = _valid_event_ids(event_ids)
    if not keys:
        return []
    async with in_transaction() as conn:
        # Claim first, in one statement: on PostgreSQL a concurrent delivery of the same
        # events waits on these rows and then finds them notified; on SQLite this first
        # write takes the write lock.
        claimed = await repository.claim_events(conn, keys)
        if not claimed:
            return []
        groups: dict[GroupKey, int] = defaultdict(int)
        for event in claimed:
            if not event["muted"]:
                groups[_group_key(event)] += 1
        if not groups:
            return []
        email_ids = sorted({key[1] for key in groups})
        await repository.lock_emails(conn, email_ids)
        unread = await repository.unread_by_group(conn, email_ids)
        now = timezone.now()
        bumps = {unread[key]: count for key, count in groups.items() if key in unread}
        bumped = await repository.bump(conn, bumps, now)
        # A group whose notification was read (or removed) since it was looked up starts
        # a new one, as it would have a moment later.
        new = {
            key: count for key, count in groups.items() if unread.get(key) not in bumped
        }
        links = await repository.link_urls(conn, {key[3] for key in new if key[3] is not None})
        created = await repository.create(conn, new, links, now)
    rung = [
        RungNotification(id=row_id, user_id=key[0], email_id=key[1], updated_at=now, created=False)
        for key, row_id in unread.items()
        if row_id in bumped
    ]
    rung += [
        RungNotification(id=row_id, user_id=key[0], email_id=key[1], updated_at=now, created=True)
        for key, row_id in created.items()
    ]
    rung.sort(key=lambda notification: notification.id)
    events = sum(groups.values())
    record_notification(coalesced=False, count=len(created))
    record_notification(coalesced=True, count=events - len(created))
    return rung


