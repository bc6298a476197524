"""`serve` and `worker` say at start when Redis would lose queued hits on a restart."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from plugin.preflight import check_redis
from tests.live.test_redis_restart import PrivateRedis
from tests.tracking.test_faults import OwnRedis

pytestmark = pytest.mark.slow


async def _started(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        for _ in range(200):
            try:
                await client.ping()
                return
            except Exception:  # still starting
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def _preflight_warnings(
    server: PrivateRedis | OwnRedis, caplog: pytest.LogCaptureFixture
) -> list[str]:
    """What the start-up check of ``server`` (started here, stopped after) warns about."""
    server.start()
    try:
        await _started(server.url)
        with caplog.at_level(logging.WARNING, logger="plugin.preflight"):
            await check_redis(server.url)
    finally:
        server.stop()
    return [r.getMessage() for r in caplog.records if r.name == "plugin.preflight"]


async def test_a_redis_without_append_only_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateRedis(tmp_path)  # appendonly no
    [line] = await _preflight_warnings(server, caplog)
    assert f"127.0.0.1:{server.port} keeps no append-only file" in line
    assert "set appendonly yes" in line


async def test_a_redis_with_append_only_file_passes_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert await _preflight_warnings(OwnRedis(tmp_path), caplog) == []  # appendonly yes
