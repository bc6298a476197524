"""Small pieces of hand-written SQL shared by the recording pipeline's batch queries.

The pipeline asks about hundreds of copies, clients and events per batch. Through
the ORM every value of an ``IN (...)`` list became a query-builder object and every
batch size a new statement text (PostgreSQL prepared each one anew); together
that cost more of the worker's time than classifying the hits. Here a list is one
array parameter on PostgreSQL (``= ANY($n::type[])``: one statement text whatever
the batch size, so asyncpg's statement cache hits) and a plain ``IN (?, ...)`` on
SQLite, and values come back as what each driver returns, converted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = ["Query", "as_bool", "as_datetime", "is_postgres"]


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


class Query:
    """Builds one statement's text and its positional parameters, for either dialect."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.postgres = is_postgres(conn)
        self.params: list[Any] = []

    def value(self, value: Any) -> str:
        """A placeholder bound to ``value``."""
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else "?"

    def among(self, column: str, values: Sequence[Any], pg_type: str) -> str:
        """``column`` is one of ``values`` (never empty: the callers return early)."""
        if self.postgres:
            return f"{column} = ANY({self.value(list(values))}::{pg_type}[])"
        return f"{column} IN ({','.join(self.value(value) for value in values)})"


def as_datetime(value: Any) -> datetime | None:
    """A stored timestamp as an aware datetime (SQLite returns the ISO text tortoise wrote)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_bool(value: Any) -> bool:
    """A stored boolean (SQLite returns 0/1)."""
    return bool(value)
