# ruff: noqa: S608 - the SQL formats in only our table's and columns' names and placeholders.
"""Every query of sending: the owner's emails, the send's inserts, the send job's copy moves.

What a user asks for (``get_email``, ``list_emails``, the idempotent replay) takes
the owner's user id and filters on it: another user's email does not exist. The
send job and the sweeps run for the system, keyed by copy and email ids that only
the send itself enqueued; their statements are here too (claim, hand-off, outcome,
the email's status), so that ``send_job.py`` and ``recovery.py`` hold no SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q

from plugin.errors import ErrorCode, ValidationError
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.sending.validation import check_text

__all__ = [
    "MAX_SEARCH_CHARS",
    "EmailFilter",
    "EmailPage",
    "claim_copies",
    "claim_sent_copy_filing",
    "copies_by_id",
    "email_by_idempotency_key",
    "email_for_sending",
    "expired_claims",
    "get_email",
    "hand_copies",
    "insert_copies",
    "insert_email",
    "insert_tracked_links",
    "link_indexes",
    "list_emails",
    "lost_copy_ids",
    "mark_copies_sent",
    "mark_email_sending",
    "refresh_email_status",
    "requeue_copy",
    "requeue_unhanded",
    "reschedule_copies",
    "set_copy_outcome",
]

#: Longest text search: longer than any subject word or address anyone types, and far
#: below what the databases' LIKE accepts (SQLite: "pattern too complex").
MAX_SEARCH_CHARS = 200


async def email_by_idempotency_key(owner_id: int, key: str) -> SentEmail | None:
    """The owner's email sent with that idempotency key, or None."""
    return await SentEmail.get_or_none(user_id=owner_id, idempotency_key=key)


async def insert_email(connection: Any, email: SentEmail) -> SentEmail:
    """Insert the (unsaved) ``email`` on ``connection``; the same email, with its id."""
    await email.save(using_db=connection, force_create=True)
    return email


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
        f"INSERT INTO {table} (email_id, position, url, click_count) VALUES ({marks})",
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
        sql = f'INSERT INTO "{table}" ({columns}) VALUES {rows} RETURNING "id", "public_id"'
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


# The send job's statements: run for the system, keyed by the ids the send enqueued.


def _now() -> datetime:
    return datetime.now(UTC)


async def _update_copies_returning(
    assignments: str, condition: str, values: list[object], copy_ids: Sequence[int],
    returning: str,
) -> list[dict[str, Any]]:
    """``UPDATE copies SET assignments WHERE condition AND id IN copy_ids RETURNING ...``
    in one statement; ``{n}`` in ``assignments`` and ``condition`` is the n-th of ``values``.

    RETURNING (SQLite >= 3.35, PostgreSQL) names exactly the rows this UPDATE changed,
    so two jobs racing for the same copies never both think they won them."""
    connection = EmailCopy._meta.db
    params = [*values, *copy_ids]
    if connection.capabilities.dialect == "postgres":
        marks = [f"${i}" for i in range(1, len(params) + 1)]
    else:
        marks = ["?"] * len(params)
    table = EmailCopy._meta.db_table
    # Only our table's and columns' names and placeholders go into the text.
    sql = (
        f'UPDATE "{table}" SET {assignments.format(*marks)} WHERE {condition.format(*marks)} '
        f'AND "id" IN ({", ".join(marks[len(values):])}) RETURNING {returning}'
    )
    return list(await connection.execute_query_dict(sql, params))


async def claim_copies(copy_ids: Sequence[int]) -> tuple[list[EmailCopy], object]:
    """QUEUED -> SENDING (attempts + 1, no handed mark) in one statement; the copies this
    call claimed (as they are now, by id), and its ``claimed_at`` as stored (the claim's
    identity for ``hand_copies``). Reading them back with the claim saves the job a
    round trip before its first build."""
    claimed_at = EmailCopy._meta.fields_map["claimed_at"].to_db_value(_now(), EmailCopy)
    if not copy_ids:
        return [], claimed_at
    rows = await _update_copies_returning(
        '"status"={0}, "attempts"="attempts"+1, "claimed_at"={1}, "handed_at"=NULL',
        '"status"={2}', [EmailStatus.SENDING.value, claimed_at, EmailStatus.QUEUED.value],
        copy_ids, "*",
    )
    # Tortoise's own way from a row to a model (the same conversions as a SELECT's).
    copies = [EmailCopy._init_from_db(**row) for row in rows]
    return sorted(copies, key=lambda copy: copy.id), claimed_at


async def hand_copies(copy_ids: Sequence[int], claim: object) -> set[int]:
    """Mark the copies handed to SMTP (committed before their first byte goes out); the
    ids marked. Fenced on the claim: a copy whose lease ran out and was put back to
    QUEUED (or claimed again) is no longer the caller's and is not marked."""
    handed_at = EmailCopy._meta.fields_map["handed_at"].to_db_value(_now(), EmailCopy)
    rows = await _update_copies_returning(
        '"handed_at"={0}', '"status"={1} AND "claimed_at"={2} AND "handed_at" IS NULL',
        [handed_at, EmailStatus.SENDING.value, claim], copy_ids, '"id"',
    )
    return {int(row["id"]) for row in rows}


async def copies_by_id(copy_ids: Sequence[int]) -> list[EmailCopy]:
    return await EmailCopy.filter(id__in=list(copy_ids)).order_by("id")


async def email_for_sending(email_id: int) -> SentEmail:
    """The email with its user (the sender's name and route)."""
    return await SentEmail.get(id=email_id).select_related("user")


async def link_indexes(email_id: int) -> dict[str, int]:
    """The email's tracked links: url -> position."""
    rows = await TrackedLink.filter(email_id=email_id).values_list("url", "position")
    return {str(url): int(position) for url, position in rows}


async def mark_copies_sent(copy_ids: Sequence[int], accepted_at: datetime) -> None:
    await EmailCopy.filter(id__in=list(copy_ids)).update(
        status=EmailStatus.SENT, error=None, accepted_at=accepted_at
    )


async def set_copy_outcome(
    copy_id: int, status: EmailStatus, error: str | None, accepted_at: datetime | None
) -> None:
    updates: dict[str, object] = {"status": status, "error": error}
    if accepted_at is not None:
        updates["accepted_at"] = accepted_at
    await EmailCopy.filter(id=copy_id).update(**updates)


async def requeue_unhanded(copy: EmailCopy, now: datetime, retry_until: datetime) -> bool:
    """SENDING -> QUEUED, due now, for a copy never handed, conditional on the very claim
    read; False when the copy moved meanwhile."""
    requeued = await EmailCopy.filter(
        id=copy.id, status=EmailStatus.SENDING, claimed_at=copy.claimed_at,
        handed_at__isnull=True,
    ).update(status=EmailStatus.QUEUED, next_attempt_at=now, retry_until=retry_until,
             error="interrupted before it was sent")
    return bool(requeued)


async def requeue_copy(
    copy_id: int, reason: str, retry_until: datetime, next_attempt_at: datetime
) -> None:
    """SENDING -> QUEUED after a temporary failure, due at ``next_attempt_at``."""
    await EmailCopy.filter(id=copy_id, status=EmailStatus.SENDING).update(
        status=EmailStatus.QUEUED, error=reason, retry_until=retry_until,
        next_attempt_at=next_attempt_at,
    )


async def refresh_email_status(email_id: int) -> None:
    """Move the email's status forward to what its copies say.

    Called at every copy's end: it asks the database small questions rather
    than reading every copy (a per-recipient send has up to hundreds).
    """
    copies = EmailCopy.filter(email_id=email_id)
    if await copies.filter(status=EmailStatus.FAILED).exists():
        failed = await copies.filter(status=EmailStatus.FAILED).values("error", "recipient")
        errors = [f"{c['recipient']}: {c['error']}" if c["recipient"] else str(c["error"])
                  for c in failed]
        await SentEmail.filter(id=email_id).exclude(status=EmailStatus.FAILED).update(
            status=EmailStatus.FAILED, error="; ".join(errors)
        )
    elif not await copies.exclude(status=EmailStatus.SENT).exists():
        sent = await copies.values("error", "accepted_at")
        if not sent:
            return
        accepted = [c["accepted_at"] for c in sent if c["accepted_at"] is not None]
        notes = [c["error"] for c in sent if c["error"]]  # recipients refused along the way
        await SentEmail.filter(
            id=email_id, status__in=[EmailStatus.QUEUED, EmailStatus.SENDING]
        ).update(status=EmailStatus.SENT, sent_at=max(accepted, default=_now()),
                 error="; ".join(notes) or None)
    else:
        await mark_email_sending(email_id)


async def mark_email_sending(email_id: int) -> None:
    """QUEUED -> SENDING: one of its copies was claimed (the first claim moves it)."""
    await SentEmail.filter(id=email_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING
    )


async def claim_sent_copy_filing(email_id: int) -> bool:
    """Mark the email's Sent copy filed, once: True for the one caller that marked it."""
    claimed = await SentEmail.filter(id=email_id, sent_copy_filed_at=None).update(
        sent_copy_filed_at=_now()
    )
    return bool(claimed)


async def lost_copy_ids(due_before: datetime, limit: int) -> list[int]:
    """QUEUED copies due before ``due_before`` (or never given a time): their job was lost."""
    ids: list[int] = await EmailCopy.filter(
        Q(next_attempt_at__lt=due_before) | Q(next_attempt_at__isnull=True),
        status=EmailStatus.QUEUED,
    ).limit(limit).values_list("id", flat=True)  # type: ignore[assignment]
    return ids


async def reschedule_copies(copy_ids: Sequence[int], now: datetime) -> None:
    """The still QUEUED among these copies are due again at ``now``."""
    await EmailCopy.filter(id__in=list(copy_ids), status=EmailStatus.QUEUED).update(
        next_attempt_at=now
    )


async def expired_claims(claimed_before: datetime, limit: int) -> list[EmailCopy]:
    """SENDING copies claimed before ``claimed_before``: their worker died."""
    return await EmailCopy.filter(
        status=EmailStatus.SENDING, claimed_at__lt=claimed_before
    ).limit(limit)
