"""Cursor pagination, newest first: cursors encode (timestamp, id) of the last row seen."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from plugin.errors import ErrorCode, ValidationError

__all__ = ["MAX_PAGE_SIZE", "decode_cursor", "encode_cursor", "page_size"]

MAX_PAGE_SIZE = 100
# A cursor this API issues is ~50 characters; anything much longer is not one of ours.
_MAX_CURSOR_CHARS = 200
_MAX_ROW_ID = 2**63 - 1  # the largest id any backend stores (BIGINT)


def page_size(first: int | None, default: int = 20) -> int:
    """``first`` checked against 1..MAX_PAGE_SIZE, with a clear error outside."""
    size = default if first is None else first
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError(
            f"first must be between 1 and {MAX_PAGE_SIZE}", field="first",
            code=ErrorCode.INVALID_PAGE_SIZE,
        )
    return size


def encode_cursor(when: datetime, row_id: int) -> str:
    raw = f"{when.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid() -> ValidationError:
    return ValidationError("the cursor is not valid", field="after", code=ErrorCode.INVALID_CURSOR)


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (timestamp, id) a cursor names; None for no cursor (the first page).

    Anything else than a cursor this API issued (too long, not base64, a naive or
    out-of-range time, an id no table can hold) is INVALID_CURSOR, never a database error.
    """
    if not cursor:
        return None
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise _invalid()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, _, row_id = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition("|")
        moment, key = datetime.fromisoformat(when), int(row_id)
        # In UTC, as the database compares: an offset that leaves the calendar overflows here.
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise _invalid() from None
    if moment.tzinfo is None or not 0 < key <= _MAX_ROW_ID:
        raise _invalid()
    return moment, key
