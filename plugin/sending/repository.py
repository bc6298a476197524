"""Reading sent emails, always scoped to their owner: another user's email does not exist;
writing an email's tracked links in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from plugin.errors import ErrorCode, ValidationError
from plugin.sending.models import EmailCopy, SentEmail, TrackedLink
from plugin.sending.validation import check_text

__all__ = [
    "MAX_SEARCH_CHARS",
    "EmailFilter",
    "EmailPage",
    "get_email",
    "insert_copies",
    "insert_tracked_links",
    "list_emails",
]

#: Longest text search: longer than any subject word or address anyone types, and far
#: below what the databases' LIKE accepts (SQLite: "pattern too complex").
MAX_SEARCH_CHARS = 200


async def insert_tracked_links(
    connection: Any, email_id: int, destinations: Sequence[tuple[int, str]]
) -> None:
    """Insert the (position, url) rows of an email's tracked links on ``connection``.

    One parametrized statement run over every row, without building a model object
    per row: for thousands of links that took seconds of the event loop.
    """
    if not destinations:
        return
    postgres = connection.capabilities.dialect == "postgres"
    marks = "$1, $2, $3, $4" if postgres else "?, ?, ?, ?"
    table = TrackedLink._meta.db_table
    await connection.execute_many(
        f"INSERT INTO {table} (email_id, position, url, click_count) VALUES ({marks})",  # noqa: S608
        [[email_id, position, url, 0] for position, url in destinations],
    )


# The columns a new copy sets; the others start NULL.
_COPY_COLUMNS = ("email_id", "public_id", "recipient", "envelope_to", "track_opens",
                 "track_links", "status", "message_id", "attempts", "next_attempt_at")
_COPIES_PER_INSERT = 500  # 5,000 parameters, well within both databases' limits


async def insert_copies(connection: Any, copies: Sequence[EmailCopy]) -> list[int]:
    """Insert the (unsaved) ``copies`` on ``connection``; their ids, in order.

    A few multi-row INSERTs instead of one per copy: a per-recipient send of hundreds
    spent most of its mutation on those round trips. Values are converted by the
    model's own fields, as the ORM's INSERT does.
    """
    fields = [EmailCopy._meta.fields_map[column] for column in _COPY_COLUMNS]
    table = EmailCopy._meta.db_table
    postgres = connection.capabilities.dialect == "postgres"
    ids: dict[str, int] = {}
    for start in range(0, len(copies), _COPIES_PER_INSERT):
        batch = copies[start:start + _COPIES_PER_INSERT]
        values = [field.to_db_value(getattr(copy, field.model_field_name), copy)
                  for copy in batch for field in fields]
        marks = [f"${i}" for i in range(1, len(values) + 1)] if postgres else ["?"] * len(values)
        width = len(fields)
        rows = ", ".join(f"({', '.join(marks[i:i + width])})"
                         for i in range(0, len(marks), width))
        columns = ", ".join(f'"{column}"' for column in _COPY_COLUMNS)
        # Only our table's and columns' names and placeholders go into the text.
        sql = f'INSERT INTO "{table}" ({columns}) VALUES {rows} RETURNING "id", "public_id"'  # noqa: S608
        for row in await connection.execute_query_dict(sql, values):
            ids[str(row["public_id"])] = int(row["id"])
    # RETURNING's order is not promised: public ids are unique.
    return [ids[copy.public_id] for copy in copies]


@dataclass(frozen=True)
class EmailFilter:
    tracked: bool | None = None
    opened: bool | None = None
    clicked: bool | None = None
    search: str | None = None
    sent_after: datetime | None = None
    sent_before: datetime | None = None


@dataclass(frozen=True)
class EmailPage:
    emails: list[SentEmail]
    has_next_page: bool
    total_count: int


async def get_email(owner_id: int, email_id: str | int) -> SentEmail | None:
    """The owner's email with that id, or None (for a foreign, unknown or malformed id alike)."""
    try:
        key = int(email_id)
    except (TypeError, ValueError):
        return None
    if not 0 < key < 2**63:
        return None
    return await SentEmail.get_or_none(id=key, user_id=owner_id)


def _check_search(search: str) -> None:
    if len(search) > MAX_SEARCH_CHARS:
        raise ValidationError(
            f"the search text exceeds {MAX_SEARCH_CHARS} characters",
            field="filter.search", code=ErrorCode.TOO_LARGE,
        )
    check_text(search, field="filter.search")


def _filtered(owner_id: int, flt: EmailFilter) -> Q:
    q = Q(user_id=owner_id)
    if flt.tracked is True:
        q &= Q(track_opens=True) | Q(track_links=True)
    elif flt.tracked is False:
        q &= Q(track_opens=False, track_links=False)
    if flt.opened is not None:
        q &= Q(open_count__gt=0) if flt.opened else Q(open_count=0)
    if flt.clicked is not None:
        q &= Q(click_count__gt=0) if flt.clicked else Q(click_count=0)
    if flt.search and flt.search.strip():
        _check_search(flt.search)
        q &= Q(search_text__contains=flt.search.strip().lower())
    # The date range is on the send time; a mail still queued counts by its creation.
    if flt.sent_after is not None:
        q &= Q(sent_at__gte=flt.sent_after) | Q(
            sent_at__isnull=True, created_at__gte=flt.sent_after
        )
    if flt.sent_before is not None:
        q &= Q(sent_at__lt=flt.sent_before) | Q(
            sent_at__isnull=True, created_at__lt=flt.sent_before
        )
    return q


async def list_emails(
    owner_id: int,
    flt: EmailFilter,
    *,
    first: int,
    after: tuple[datetime, int] | None = None,
) -> EmailPage:
    """Newest first by creation time, then id, so back-to-back sends keep their order."""
    base = _filtered(owner_id, flt)
    query = SentEmail.filter(base)
    if after is not None:
        when, row_id = after
        query = query.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=row_id))
    rows = await query.order_by("-created_at", "-id").limit(first + 1)
    total = await SentEmail.filter(base).count()
    return EmailPage(emails=rows[:first], has_next_page=len(rows) > first, total_count=total)
