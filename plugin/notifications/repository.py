# ruff: noqa: S608 - the SQL formats in only this module's column names and placeholders.
"""Every query of notifications: the owner's bell (scoped to the owner), and the statements
with which a recorded batch rings it (run for the system, keyed by event ids).

Owner reads and writes take the owner's user id and filter on it: another user's
notification id finds nothing and changes nothing. The bell's batch statements
(``claim_events`` ... ``create``) run inside ``plugin.notifications.batch``'s
transaction, which says in which order they lock what.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from plugin.notifications.models import Notification, NotificationKind

__all__ = [
    "GroupKey",
    "NotificationPage",
    "bump",
    "claim_events",
    "create",
    "get_notifications",
    "link_urls",
    "list_notifications",
    "lock_emails",
    "mark_read",
    "unread_by_group",
    "unread_count",
]

# (user, email, kind, link, recipient): what one unread notification coalesces.
GroupKey = tuple[int, int, NotificationKind, int | None, str | None]

# First key of the two-key advisory locks taken per email by the bell ("mb" + 2; the
# tracking store's copy locks use "mb" + 1): the second key is the email id.
_EMAIL_BELL_LOCK_SPACE = 0x6D6202
# 9 parameters a row on SQLite: well under its 32,766 variables.
_ROWS_PER_INSERT = 500


@dataclass(frozen=True)
class NotificationPage:
    notifications: list[Notification]
    has_next_page: bool
    total_count: int


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
    """Newest activity first (``updated_at``, then id), so a coalesced notification that
    rings again comes back to the top of the bell."""
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


async def mark_read(owner_id: int, ids: list[int] | None) -> int:
    """Mark the owner's unread notifications among ``ids`` (every one when None) read;
    how many changed (another user's ids change nothing)."""
    query = Notification.filter(user_id=owner_id, read_at__isnull=True)
    if ids is not None:
        query = query.filter(id__in=ids)
    return int(await query.update(read_at=timezone.now()))


# The bell's batch statements (system: keyed by event ids, not by an owner).


def _row_key(row: dict[str, Any]) -> GroupKey:
    kind = NotificationKind(getattr(row["kind"], "value", row["kind"]))
    link_id = None if row["link_id"] is None else int(row["link_id"])
    return (int(row["user_id"]), int(row["email_id"]), kind, link_id, row["recipient"])


async def claim_events(conn: BaseDBAsyncClient, keys: list[uuid.UUID]) -> list[dict[str, Any]]:
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


async def _muted_users(conn: BaseDBAsyncClient, user_ids: set[int]) -> set[int]:
    """SQLite's half of the claim: who among these owners switched the bell off."""
    marks = ",".join("?" for _ in user_ids)
    rows = await conn.execute_query_dict(
        f"SELECT user_id FROM mb_tracking_preference WHERE user_id IN ({marks}) "
        "AND notifications_enabled = 0",
        [*user_ids],
    )
    return {int(row["user_id"]) for row in rows}


async def lock_emails(conn: BaseDBAsyncClient, email_ids: list[int]) -> None:
    """Hold the bell of these emails (sorted ids) until commit, against other batches."""
    if conn.capabilities.dialect != "postgres":
        return  # SQLite: the claim took the database's write lock
    await conn.execute_query(
        "SELECT pg_advisory_xact_lock($1, email_id) "
        "FROM unnest($2::int[]) WITH ORDINALITY AS t(email_id, n) ORDER BY n",
        [_EMAIL_BELL_LOCK_SPACE, email_ids],
    )


async def unread_by_group(conn: BaseDBAsyncClient, email_ids: list[int]) -> dict[GroupKey, int]:
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


async def bump(conn: BaseDBAsyncClient, counts: dict[int, int], now: datetime) -> set[int]:
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


async def create(
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


async def link_urls(conn: BaseDBAsyncClient, link_ids: Iterable[int]) -> dict[int, str]:
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
