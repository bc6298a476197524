"""Removing what a benchmark run created: its PostgreSQL database and its Redis keys."""

from __future__ import annotations

from typing import Any


async def drop_bench_storage(admin: Any, database: str, redis_url: str, prefix: str) -> None:
    """Delete every Redis key under ``prefix``, drop ``database`` and close ``admin``.

    ``admin`` is an asyncpg connection to the server's maintenance database; the
    database is dropped WITH (FORCE) because the servers under test may still hold
    connections to it.
    """
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.close()
