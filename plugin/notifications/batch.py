# ruff: noqa: S608 - the SQL formats in only this module's column names and placeholders.
"""Ring the bell for a whole recorded batch: one transaction, coalesced per email.

The per-event path (``service.notify_for_event``) costs a transaction and a lock
of the email per counted event, which capped a flood of opens on one email at a
few hundred a second. Here a batch claims all its events at once (their
``notified`` flag, so a redelivered message changes nothing), groups them by
what a notification coalesces on (email, kind, link, recipient), and adds each
group to its unread notification in one update, or creates it.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tortoise import timezone
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from plugin.notifications.models import Notification, NotificationKind
from plugin.observability.metrics import record_notification
from plugin.preferences.models import TrackingPreference
from plugin.sending.models import SentEmail, TrackedLink
from plugin.tracking.models import EventKind

__all__ = ["notify_for_events"]

log = logging.getLogger("mailbeacon.notifications")

# (user, email, kind, link, recipient): what one unread notification coalesces.
GroupKey = tuple[int, int, NotificationKind, int | None, str | None]


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


async def _muted_users(user_ids: set[int]) -> set[int]:
    rows = await TrackingPreference.filter(
        user_id__in=list(user_ids), notifications_enabled=False
    ).values_list("user_id", flat=True)
    return {int(str(user_id)) for user_id in rows}


def _group_key(event: dict[str, Any]) -> GroupKey:
    clicked = event["kind"] in (EventKind.CLICK, EventKind.CLICK.value)
    kind = NotificationKind.LINK_CLICKED if clicked else NotificationKind.EMAIL_OPENED
    link_id = event["link_id"] if clicked else None
    return (event["user_id"], event["email_id"], kind, link_id, event["recipient"])


async def notify_for_events(event_ids: Sequence[object]) -> list[Notification]:
    """Ring the bell for these stored events; return the notifications created or bumped.

    Idempotent per event; events that are not counted HUMAN ones, already notified,
    erased, or whose owner switched notifications off ring nothing.
    """
    keys = _valid_event_ids(event_ids)
    if not keys:
        return []
    touched: list[int] = []
    async with in_transaction() as conn:
        # Claim first, in one statement: on PostgreSQL a concurrent delivery of the same
        # events waits on these rows and then finds them notified; SQLite's write lock
        # is taken at BEGIN.
        claimed = await _claim(conn, keys)
        if not claimed:
            return []
        muted = await _muted_users({event["user_id"] for event in claimed})
        events = [event for event in claimed if event["user_id"] not in muted]
        if not events:
            return []
        groups: dict[GroupKey, int] = defaultdict(int)
        for event in events:
            groups[_group_key(event)] += 1
        email_ids = sorted({key[1] for key in groups})
        # Serialise notifications of these emails (in id order) against other batches.
        await SentEmail.filter(id__in=email_ids).using_db(conn).select_for_update().order_by(
            "id"
        ).values_list("id", flat=True)
        unread = await _unread_by_group(conn, email_ids)
        link_urls = await _link_urls(conn, {key[3] for key in groups if key[3] is not None})
        now = timezone.now()
        new: list[Notification] = []
        for key, count in sorted(groups.items(), key=lambda item: item[0][:2]):
            existing = unread.get(key)
            if existing is not None:
                await Notification.filter(id=existing).using_db(conn).update(
                    count=F("count") + count, updated_at=now
                )
                touched.append(existing)
            else:
                user_id, email_id, kind, link_id, recipient = key
                new.append(
                    await Notification.create(
                        user_id=user_id,
                        email_id=email_id,
                        link_id=link_id,
                        kind=kind,
                        url=link_urls.get(link_id) if link_id is not None else None,
                        recipient=recipient,
                        count=count,
                        updated_at=now,
                        using_db=conn,
                    )
                )
        touched.extend(notification.id for notification in new)
    created = len(new)
    record_notification(coalesced=False, count=created)
    record_notification(coalesced=True, count=len(events) - created)
    return list(await Notification.filter(id__in=touched).order_by("id"))


async def _claim(conn: Any, keys: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Mark these counted, undecided-free events notified; return the ones this call claimed."""
    ids = [str(key) for key in keys]
    condition = (
        "notified = false AND source = 'HUMAN' AND duplicate = false AND rule <> 'pending'"
    )
    returning = "RETURNING id, user_id, email_id, kind, link_id, recipient"
    if conn.capabilities.dialect == "postgres":
        sql = (
            "UPDATE mb_tracking_event SET notified = true "
            f"WHERE event_id = ANY($1::uuid[]) AND {condition} {returning}"
        )
        return list(await conn.execute_query_dict(sql, [ids]))
    marks = ",".join("?" for _ in ids)
    sql = (
        "UPDATE mb_tracking_event SET notified = 1 "
        f"WHERE event_id IN ({marks}) AND {condition.replace('false', '0')} {returning}"
    )
    return list(await conn.execute_query_dict(sql, ids))


async def _unread_by_group(conn: Any, email_ids: list[int]) -> dict[GroupKey, int]:
    """The newest unread notification of each group on these emails."""
    rows = (
        await Notification.filter(email_id__in=email_ids, read_at__isnull=True)
        .using_db(conn)
        .order_by("id")
        .values("id", "user_id", "email_id", "kind", "link_id", "recipient")
    )
    found: dict[GroupKey, int] = {}
    for row in rows:
        kind = NotificationKind(getattr(row["kind"], "value", row["kind"]))
        found[(row["user_id"], row["email_id"], kind, row["link_id"], row["recipient"])] = row["id"]
    return found


async def _link_urls(conn: Any, link_ids: set[Any]) -> dict[int, str]:
    if not link_ids:
        return {}
    rows = await TrackedLink.filter(id__in=list(link_ids)).using_db(conn).values_list("id", "url")
    return {int(link_id): str(url) for link_id, url in rows}
