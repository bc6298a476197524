"""Cursor pagination, newest first: cursors encode (timestamp, id) of the last row seen."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from plugin.errors import ValidationError

__all__ = ["MAX_PAGE_SIZE", "decode_cursor", "encode_cursor", "page_size"]

MAX_PAGE_SIZE = 100


def page_size(first: int | None, default: int = 20) -> int:
    """``first`` checked against 1..MAX_PAGE_SIZE, with a clear error outside."""
    size = default if first is None else first
    if size < 1 or size > MAX_PAGE_SIZE:
        raise ValidationError(
            f"first must be between 1 and {MAX_PAGE_SIZE}", field="first", code="INVALID_PAGE_SIZE"
        )
    return size


def encode_cursor(when: datetime, row_id: int) -> str:
    raw = f"{when.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (timestamp, id) a cursor names; None for no cursor (the first page)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, _, row_id = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition("|")
        return datetime.fromisoformat(when), int(row_id)
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError(
            "the cursor is not valid", field="after", code="INVALID_CURSOR"
        ) from None
