"""A Redis restarted without persistence loses the periodic jobs' schedules; a running
`mailbeacon worker` starts them again by itself (no restart of any process).

The worker runs as a subprocess against a Redis of the test's own (no persistence,
restarted by the test) and a PostgreSQL database of the test's own. The daily purge
runs once when its schedule starts: seeing it run again after the restart shows
that the schedules (send sweep, held-click sweep, purge) were started anew.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import PG_ADMIN_DSN, RUN_ID, _create_pg_database, _drop_pg_database
from tests.live.test_redis_restart import PrivateRedis
from tests.tracking.test_faults import Processes, _run, _until, distributed_only

pytestmark = pytest.mark.slow

JOBS = ("purge_old_events", "sweep_pending_clicks", "sweep_send_queue")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = f"mbsched_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    await _create_pg_database(name)
    yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    await _drop_pg_database(name)


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@distributed_only
async def test_a_worker_starts_the_schedules_again_after_redis_lost_its_data(
    tmp_path: Path, volatile_redis: PrivateRedis, database: str
) -> None:
    prefix = f"mbtest:{RUN_ID}:schedules"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": database,
        "MAILBEACON_REDIS_URL": volatile_redis.url,
        "MAILBEACON_REDIS_PREFIX": prefix,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    _run(["migrate"], env)
    cluster = Processes(env, tmp_path)
    keys = [f"{prefix}:periodic:{job}" for job in JOBS]

    async def scheduled() -> bool:
        client = Redis.from_url(volatile_redis.url)
        try:
            return bool(await client.exists(*keys) == len(keys))
        except (OSError, RedisConnectionError):  # restarting
            return False
        finally:
            await client.aclose()

    def purges() -> int:
        return (tmp_path / "worker.log").read_text(errors="replace").count("past retention")

    try:
        cluster.spawn("worker", ["worker", "--threads", "2"])
        await _until(scheduled, "the worker to schedule its periodic jobs", 60)
        await _until(lambda: _true(purges() >= 1), "the first purge", 60)
        before = purges()

        volatile_redis.stop()  # every key, every queued job and every schedule is gone
        volatile_redis.start()

        await _until(scheduled, "the schedules to be started again", 120)
        await _until(lambda: _true(purges() > before), "the purge to run again", 60)
        assert "started again" in (tmp_path / "worker.log").read_text(errors="replace")
    finally:
        codes = cluster.stop_all()
    assert codes == {"worker": 0}, cluster.log("worker")


async def _true(value: bool) -> bool:
    return value
