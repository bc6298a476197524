"""The tracking pipeline's store: insert events once, move the aggregates with them, and
read back what the pipeline needs of stored events (earlier verdicts, held clicks).

It runs for the system, keyed by the copies that signed tokens name, never for a
user; the Mail tab's reads are in ``plugin.tracking.repository``. The batch SQL is
hand-written because the ORM cannot say which rows an ``INSERT ... ON CONFLICT DO
NOTHING`` really inserted; ``RETURNING event_id`` can, on SQLite (3.35+) and
PostgreSQL alike. The writes run inside the caller's transaction, so an event and
the figures it moves are committed together or not at all.
"""

# ruff: noqa: S608 - SQL here formats in only this module's table/column names and placeholders.
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from plugin.tracking.edge.hits import dashed_uuid, uuid_hex
from plugin.tracking.models import TrackingEvent

__all__ = [
    "PENDING_RULE",
    "EventRow",
    "bump_aggregates",
    "finalise_event",
    "held_clicks",
    "held_targets",
    "insert_events",
    "lock_copies",
    "stale_pending_event_ids",
    "stored_verdicts",
]

# The rule of a click held for the burst window; it is not counted or shown until decided.
PENDING_RULE = "pending"

_COLUMNS = (
    "event_id",
    "user_id",
    "email_id",
    "copy_id",
    "link_id",
    "kind",
    "source",
    "rule",
    "duplicate",
    "honeypot",
    "recipient",
    "occurred_at",
    "method",
    "user_agent",
    "client_hash",
    "client_prefix",
    "notified",
)
_ROWS_PER_STATEMENT = 500
# First key of the two-key advisory locks taken per copy ("mb" + 1): the second is the copy id.
_COPY_LOCK_SPACE = 0x6D6201  # 17 parameters a row: well under both databases' limits


@dataclass
class EventRow:
    """One event to store (column values) plus what the pipeline needs afterwards."""

    event_id: str  # uuid hex
    user_id: int
    email_id: int
    copy_id: int
    link_id: int | None
    kind: str
    source: str
    rule: str
    duplicate: bool
    honeypot: bool
    recipient: str | None
    occurred_at: datetime
    method: str
    user_agent: str
    client_hash: str
    client_prefix: str
    url: str | None = None
    row_id: int | None = None  # the stored row's id, once inserted (or found stored)

    @property
    def counts(self) -> bool:
        """HUMAN, not a repeat, and decided: the only events the figures count."""
        return self.source == "HUMAN" and not self.duplicate and self.rule != PENDING_RULE

    def values(self) -> list[Any]:
        return [
            dashed_uuid(self.event_id),
            self.user_id,
            self.email_id,
            self.copy_id,
            self.link_id,
            self.kind,
            self.source,
            self.rule,
            self.duplicate,
            self.honeypot,
            self.recipient,
            self.occurred_at,
            self.method,
            self.user_agent,
            self.client_hash,
            self.client_prefix,
            False,
        ]


def _placeholder(conn: BaseDBAsyncClient) -> str:
    return "$" if conn.capabilities.dialect == "postgres" else "?"


async def lock_copies(conn: BaseDBAsyncClient, copy_ids: Iterable[int]) -> None:
    """Hold these copies until the transaction ends, against other recorders of them.

    PostgreSQL: transaction-scoped advisory locks, taken in id order (no deadlock).
    SQLite: nothing to do, the write transaction (BEGIN IMMEDIATE) already excludes
    every other writer.
    """
    ordered = sorted(set(copy_ids))
    if not ordered or conn.capabilities.dialect != "postgres":
        return
    await conn.execute_query(
        "SELECT pg_advisory_xact_lock($1, copy_id) "
        "FROM unnest($2::int[]) WITH ORDINALITY AS t(copy_id, n) ORDER BY n",
        [_COPY_LOCK_SPACE, ordered],
    )


# PostgreSQL types of ``_COLUMNS``, for inserting a whole batch as one array per column.
_PG_TYPES = (
    "uuid", "int", "int", "int", "int", "text", "text", "text", "bool", "bool", "text",
    "timestamptz", "text", "text", "text", "text", "bool",
)  # fmt: skip
_PG_INSERT = (
    f"INSERT INTO mb_tracking_event ({','.join(_COLUMNS)}) "
    f"SELECT * FROM unnest({','.join(f'${i + 1}::{t}[]' for i, t in enumerate(_PG_TYPES))}) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id"
)


async def insert_events(conn: BaseDBAsyncClient, rows: Sequence[EventRow]) -> dict[str, int]:
    """Insert the rows whose event id is new; return the event ids (hex) actually inserted,
    each with its row id."""
    if not rows:
        return {}
    if conn.capabilities.dialect == "postgres":
        # One statement text whatever the batch size (prepared once per connection), one
        # array per column: no per-row placeholders to build or parse.
        columns = [list(column) for column in zip(*(row.values() for row in rows), strict=True)]
        result = await conn.execute_query_dict(_PG_INSERT, columns)
        return {uuid_hex(record["event_id"]): int(record["id"]) for record in result}
    inserted: dict[str, int] = {}
    width = len(_COLUMNS)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        values: list[Any] = []
        for row in chunk:
            values.extend(row.values())
        group = "(" + ",".join("?" * width) + ")"
        # Only our own column names and placeholders are formatted in; values are bound.
        sql = (
            f"INSERT INTO mb_tracking_event ({','.join(_COLUMNS)}) "
            f"VALUES {','.join([group] * len(chunk))} "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id"
        )
        result = await conn.execute_query_dict(sql, values)
        inserted.update((uuid_hex(r["event_id"]), int(r["id"])) for r in result)
    return inserted


def _span(rows: Iterable[EventRow]) -> tuple[int, datetime, datetime]:
    times = [row.occurred_at for row in rows]
    return len(times), min(times), max(times)


async def bump_aggregates(conn: BaseDBAsyncClient, counted: Sequence[EventRow]) -> None:
    """Add counted events to their email's and link's figures (count, first, last)."""
    opens: dict[int, list[EventRow]] = defaultdict(list)
    clicks: dict[int, list[EventRow]] = defaultdict(list)
    links: dict[int, list[EventRow]] = defaultdict(list)
    for row in counted:
        if row.kind == "OPEN":
            opens[row.email_id].append(row)
        else:
            clicks[row.email_id].append(row)
            if row.link_id is not None:
                links[row.link_id].append(row)
    # Sorted by id: concurrent workers lock rows in the same order and cannot deadlock.
    await _bump(conn, "mb_sent_email", "open_count", "first_opened_at", "last_opened_at", opens)
    await _bump(conn, "mb_sent_email", "click_count", "first_clicked_at", "last_clicked_at", clicks)
    await _bump(
        conn, "mb_tracked_link", "click_count", "first_clicked_at", "last_clicked_at", links
    )


async def _bump(
    conn: BaseDBAsyncClient,
    table: str,
    count: str,
    first: str,
    last: str,
    groups: dict[int, list[EventRow]],
) -> None:
    if not groups:
        return
    m = _placeholder(conn)
    sql = (
        f"UPDATE {table} SET {count} = {count} + {m}1, "
        f"{first} = CASE WHEN {first} IS NULL OR {first} > {m}2 THEN {m}2 ELSE {first} END, "
        f"{last} = CASE WHEN {last} IS NULL OR {last} < {m}3 THEN {m}3 ELSE {last} END "
        f"WHERE id = {m}4"
    )
    values = [[*_span(rows), key] for key, rows in sorted(groups.items())]
    await conn.execute_many(sql, values)


async def finalise_event(
    conn: BaseDBAsyncClient, row_id: int, source: str, rule: str, duplicate: bool
) -> bool:
    """Decide a held click; True only for the one caller that moved it out of pending."""
    m = _placeholder(conn)
    sql = (
        f"UPDATE mb_tracking_event SET source = {m}1, rule = {m}2, duplicate = {m}3 "
        f"WHERE id = {m}4 AND rule = {m}5 RETURNING id"
    )
    result = await conn.execute_query_dict(sql, [source, rule, duplicate, row_id, PENDING_RULE])
    return len(result) > 0


async def stored_verdicts(event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored id, event id, source, rule and duplicate flag of these (dashed) event ids."""
    return await TrackingEvent.filter(event_id__in=list(event_ids)).values(
        "id", "event_id", "source", "rule", "duplicate"
    )


async def held_targets(event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The copy, client hash, user agent and time of the still held clicks among these ids."""
    return await TrackingEvent.filter(event_id__in=list(event_ids), rule=PENDING_RULE).values(
        "copy_id", "client_hash", "user_agent", "occurred_at"
    )


async def held_clicks(
    copy_ids: Iterable[int], client_hashes: Iterable[str], until: datetime
) -> list[TrackingEvent]:
    """Held clicks on these copies from these clients up to ``until``, oldest first, with
    their copy and link."""
    return (
        await TrackingEvent.filter(
            rule=PENDING_RULE,
            copy_id__in=list(copy_ids),
            client_hash__in=list(client_hashes),
            occurred_at__lte=until,
        )
        .order_by("occurred_at", "id")
        .select_related("copy", "link")
    )


async def stale_pending_event_ids(older_than: datetime, limit: int) -> list[str]:
    """Event ids of clicks held since before ``older_than``, oldest first."""
    rows = (
        await TrackingEvent.filter(rule=PENDING_RULE, occurred_at__lt=older_than)
        .order_by("occurred_at")
        .limit(limit)
        .values_list("event_id", flat=True)
    )
    return [str(event_id) for event_id in rows]
