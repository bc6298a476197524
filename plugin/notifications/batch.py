# ruff: noqa: S608 - the SQL formats in only this module's column names and placeholders.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from plugin.notifications.models import NotificationKind
from plugin.observability.metrics import record_notification
from plugin.tracking.models import EventKind

__all__ = ["RungNotification", "notify_for_events"]

log = logging.getLogger("mailbeacon.notifications")

# (user, email, kind, link, recipient): what one unread notification coalesces.
GroupKey = tuple[int, int, NotificationKind, int | None, str | None]

# First key of the two-key advisory locks taken per email by the bell ("mb" + 2; the
# tracking store's copy locks use "mb" + 1): the second key is the email id.
_EMAIL_BELL_LOCK_SPACE = 0x6D6202
# 9 parameters a row on SQLite: well under its 32,766 variables.
_ROWS_PER_INSERT = 500


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


async def _muted_users(conn: BaseDBAsyncClient, user_ids: set[int]) -> set[int]:
    """SQLite's half of the claim: who among these owners switched the bell off."""
    marks = ",".join("?" for _ in user_ids)
    rows = await conn.execute_query_dict(
        f"SELECT user_id FROM mb_tracking_preference WHERE user_id IN ({marks}) "
        "AND notifications_enabled = 0",
        [*user_ids],
    )
    return {int(row["user_id"]) for row in rows}


def _group_key(event: dict[str, Any]) -> GroupKey:
    clicked = event["kind"] in (EventKind.CLICK, EventKind.CLICK.value)
    kind = NotificationKind.LINK_CLICKED if clicked else NotificationKind.EMAIL_OPENED
    link_id = event["link_id"] if clicked else None
    return (int(event["user_id"]), int(event["email_id"]), kind, link_id, event["recipient"])


def _row_key(row: dict[str, Any]) -> GroupKey:
    kind = NotificationKind(getattr(row["kind"], "value", row["kind"]))
    link_id = None if row["link_id"] is None else int(row["link_id"])
    return (int(row["user_id"]), int(row["email_id"]), kind, link_id, row["recipient"])


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
        claimed = await _claim(conn, keys)
        if not claimed:
            return []
        groups: dict[GroupKey, int] = defaultdict(int)
        for event in claimed:
            if not event["muted"]:
                groups[_group_key(event)] += 1
        if not groups:
            return []
        email_ids = sorted({key[1] for key in groups})
        await _lock_emails(conn, email_ids)
        unread = await _unread_by_group(conn, email_ids)
        now = timezone.now()
        bumps = {unread[key]: count for key, count in groups.items() if key in unread}
        bumped = await _bump(conn, bumps, now)
        # A group whose notification was read (or removed) since it was looked up starts
        # a new one, as it would have a moment later.
        new = {
            key: count for key, count in groups.items() if unread.get(key) not in bumped
        }
        links = await _link_urls(conn, {key[3] for key in new if key[3] is not None})
        created = await _create(conn, new, links, now)
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


async def _claim(conn: BaseDBAsyncClient, keys: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Mark these counted, decided events notified; return the ones this call claimed.

    Each with ``muted``: its owner switched the bell off (claimed all the same, so
    switching it back on never rings old events).
    """
    ids = [str(key) for key in keys]
    condition = (
        "notified = false AND source = 'HUMAN' AND duplicate = false AND rule <> 'pending'"
    )
    returning = "RETURNING id, user_id, email_id, kind, link_id, recipient"
    if conn.capabilities.dialect == "postgres":
        sql = (
            "WITH claimed AS (UPDATE mb_tracking_event SET notified = true "
            f"WHERE event_id = ANY($1::uuid[]) AND {condition} {returning}) "
            "SELECT c.*, EXISTS (SELECT 1 FROM mb_tracking_preference p WHERE "
            "p.user_id = c.user_id AND NOT p.notifications_enabled) AS muted FROM claimed c"
        )
        return list(await conn.execute_query_dict(sql, [ids]))
    marks = ",".join("?" for _ in ids)
    sql = (
        "UPDATE mb_tracking_event SET notified = 1 "
        f"WHERE event_id IN ({marks}) AND {condition.replace('false', '0')} {returning}"
    )
    claimed = [dict(row) for row in await conn.execute_query_dict(sql, ids)]
    if claimed:
        muted = await _muted_users(conn, {int(row["user_id"]) for row in claimed})
        for row in claimed:
            row["muted"] = int(row["user_id"]) in muted
    return claimed


async def _lock_emails(conn: BaseDBAsyncClient, email_ids: list[int]) -> None:
    """Hold the bell of these emails (sorted ids) until commit, against other batches."""
    if conn.capabilities.dialect != "postgres":
        return  # SQLite: the claim took the database's write lock
    await conn.execute_query(
        "SELECT pg_advisory_xact_lock($1, email_id) "
        "FROM unnest($2::int[]) WITH ORDINALITY AS t(email_id, n) ORDER BY n",
        [_EMAIL_BELL_LOCK_SPACE, email_ids],
    )


async def _unread_by_group(conn: BaseDBAsyncClient, email_ids: list[int]) -> dict[GroupKey, int]:
    """The newest unread notification of each group on these emails."""
    values: list[Any]
    if conn.capabilities.dialect == "postgres":
        where, values = "email_id = ANY($1::int[])", [email_ids]
    else:
        where, values = f"email_id IN ({','.join('?' for _ in email_ids)})", [*email_ids]
    rows = await conn.execute_query_dict(
        "SELECT id, user_id, email_id, kind, link_id, recipient FROM mb_notification "
        f"WHERE {where} AND read_at IS NULL ORDER BY id",
        values,
    )
    # In id order: a later row of a group (there should be only one) wins.
    return {_row_key(row): int(row["id"]) for row in rows}


async def _bump(conn: BaseDBAsyncClient, counts: dict[int, int], now: datetime) -> set[int]:
    """Add ``counts`` (notification id -> events) to unread notifications; return those bumped."""
    if not counts:
        return set()
    ids = sorted(counts)
    if conn.capabilities.dialect == "postgres":
        # One statement; ``read_at IS NULL`` is checked again on the row it locks, so a
        # notification read meanwhile is left alone (its group starts a new one).
        rows = await conn.execute_query_dict(
            "UPDATE mb_notification AS n SET count = n.count + v.added, updated_at = $3 "
            "FROM unnest($1::int[], $2::int[]) AS v(id, added) "
            "WHERE n.id = v.id AND n.read_at IS NULL RETURNING n.id",
            [ids, [counts[row_id] for row_id in ids], now],
        )
        return {int(row["id"]) for row in rows}
    # SQLite: nobody else writes inside this transaction, every row is still unread.
    await conn.execute_many(
        "UPDATE mb_notification SET count = count + ?, updated_at = ? WHERE id = ?",
        [[counts[row_id], now, row_id] for row_id in ids],
    )
    return set(ids)


async def _create(
    conn: BaseDBAsyncClient, counts: dict[GroupKey, int], links: dict[int, str], now: datetime
) -> dict[GroupKey, int]:
    """Insert one notification per group; return each group's new id."""
    if not counts:
        return {}
    rows = [
        (user_id, email_id, link_id, kind.value,
         links.get(link_id) if link_id is not None else None, recipient, count)
        for (user_id, email_id, kind, link_id, recipient), count in sorted(
            counts.items(), key=lambda item: _sort_key(item[0])
        )
    ]
    columns = "user_id, email_id, link_id, kind, url, recipient, count, created_at, updated_at"
    returning = "RETURNING id, user_id, email_id, kind, link_id, recipient"
    created: dict[GroupKey, int] = {}
    if conn.capabilities.dialect == "postgres":
        result = await conn.execute_query_dict(
            f"INSERT INTO mb_notification ({columns}) "
            "SELECT u, e, l, k, url, r, c, $8, $8 FROM unnest("
            "$1::int[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[]"
            f") AS v(u, e, l, k, url, r, c) {returning}",
            [*([*column] for column in zip(*rows, strict=True)), now],
        )
        created.update((_row_key(row), int(row["id"])) for row in result)
    else:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            marks = ",".join("(?,?,?,?,?,?,?,?,?)" for _ in chunk)
            values = [value for row in chunk for value in (*row, now, now)]
            result = await conn.execute_query_dict(
                f"INSERT INTO mb_notification ({columns}) VALUES {marks} {returning}", values
            )
            created.update((_row_key(row), int(row["id"])) for row in result)
    return created


def _sort_key(key: GroupKey) -> tuple[Any, ...]:
    user_id, email_id, kind, link_id, recipient = key
    return (user_id, email_id, kind.value, link_id or 0, recipient or "")


async def _link_urls(conn: BaseDBAsyncClient, link_ids: Iterable[int]) -> dict[int, str]:
    wanted = list(link_ids)
    if not wanted:
        return {}
    values: list[Any]
    if conn.capabilities.dialect == "postgres":
        where, values = "id = ANY($1::int[])", [wanted]
    else:
        where, values = f"id IN ({','.join('?' for _ in wanted)})", [*wanted]
    sql = f"SELECT id, url FROM mb_tracked_link WHERE {where}"
    rows = await conn.execute_query_dict(sql, values)
    return {int(row["id"]): str(row["url"]) for row in rows}
