"""``transaction()``: a database transaction whose enqueued jobs go out once it commits.

Tortoise's ``in_transaction`` nests (an inner one is a savepoint); so does this:
the jobs of an inner transaction join the outer one's when its savepoint is
released and are dropped with it when it rolls back, and only the outermost
commit sends them, in the order they were enqueued (see plugin.jobs). A job whose
send fails after the commit raises from the ``async with``, as an enqueue after
the commit did: the caller's retry (a redelivered batch, the send sweep) covers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from plugin.jobs import held_jobs

__all__ = ["transaction"]


@asynccontextmanager
async def transaction(connection_name: str | None = None) -> AsyncIterator[BaseDBAsyncClient]:
    """``in_transaction(connection_name)``, holding what is enqueued inside until it ends."""
    # The jobs' scope encloses the transaction: it ends after the commit (or rollback).
    async with held_jobs(), in_transaction(connection_name) as conn:
        yield conn
