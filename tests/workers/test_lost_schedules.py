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
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import RUN_ID

# The fault tests' fixtures: a PostgreSQL database of the test's own, a Redis without
# persistence of the test's own (imported, pytest finds them here).
from tests.live.test_redis_restart import PrivateRedis, private_redis  # noqa: F401
from tests.tracking.test_faults import Processes, _run, _until, database, distributed_only  # noqa: F401

pytestmark = pytest.mark.slow

JOBS = ("purge_old_events", "sweep_pending_clicks", "sweep_send_queue")


@distributed_only
async def test_a_worker_starts_the_schedules_again_after_redis_lost_its_data(
    tmp_path: Path, private_redis: PrivateRedis, database: str  # noqa: F811 (fixtures)
) -> None:
    prefix = f"mbtest:{RUN_ID}:schedules"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": database,
        "MAILBEACON_REDIS_URL": private_redis.url,
        "MAILBEACON_REDIS_PREFIX": prefix,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    _run(["migrate"], env)
    cluster = Processes(env, tmp_path)
    keys = [f"{prefix}:periodic:{job}" for job in JOBS]

    async def scheduled() -> bool:
        client = Redis.from_url(private_redis.url)
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

        private_redis.stop()  # every key, every queued job and every schedule is gone
        private_redis.start()

        await _until(scheduled, "the schedules to be started again", 120)
        await _until(lambda: _true(purges() > before), "the purge to run again", 60)
        assert "started again" in (tmp_path / "worker.log").read_text(errors="replace")
    finally:
        codes = cluster.stop_all()
    assert codes == {"worker": 0}, cluster.log("worker")


async def _true(value: bool) -> bool:
    return value
