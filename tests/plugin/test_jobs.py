"""Jobs: held by a transaction until it commits, dropped on rollback, sent at once outside
one; every job referred to is checked at start-up; enqueues share one Redis connection.

What needs a broker of its own (the connection count, a failed start-up) runs in a
process of its own: a test's broker becomes Dramatiq's global one there, which in the
test session would also catch the session server's own enqueues. The rest captures
what would be sent instead of sending it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

import plugin.jobs as jobs
from plugin.accounts.models import User
from plugin.errors import UnknownJobError
from plugin.jobs import JobName, check_jobs, enqueue, enqueue_async
from plugin.transaction import transaction
from tests.conftest import REDIS_URL, RUN_ID, UserFactory

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, json, sys
import dramatiq
from dramatiq.brokers.redis import RedisBroker

url, namespace = sys.argv[1:3]
broker = RedisBroker(url=url, namespace=namespace)
dramatiq.actor(lambda n: None, actor_name="noop", broker=broker)
dramatiq.set_broker(broker)

from plugin.jobs import JobName, enqueue_async

NOOP = JobName("noop", queue="default")

async def burst() -> None:
    await asyncio.gather(*(enqueue_async(NOOP, n) for n in range(50)))

try:
    asyncio.run(burst())
    print(json.dumps([broker.client.connection_pool._created_connections,
                      broker.client.llen(f"{namespace}:default")]))
finally:
    broker.flush_all()
    broker.client.delete(f"{namespace}:__heartbeats__")  # flush_all leaves it
    broker.close()
"""


def test_a_burst_of_enqueues_uses_one_connection_of_the_brokers_pool() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, REDIS_URL, f"mbtest:{RUN_ID}:jobs"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    connections, queued = json.loads(done.stdout)
    assert queued == 50
    assert connections == 1  # 6 through the loop's default executor (its threads here)


# A real job (start-up checks every reference), never sent: the ``sent`` fixture keeps it.
PING = JobName("touch_token", queue="housekeeping")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], int | None]]:
    """What would have been sent, in order (name, args, delay)."""
    captured: list[tuple[str, tuple[Any, ...], int | None]] = []
    real = jobs._send

    def capture(batch: list[tuple[JobName, tuple[Any, ...], int | None]]) -> None:
        # The session server's own jobs (its periodic chains) still go to its broker.
        captured.extend((job.name, args, delay) for job, args, delay in batch if job is PING)
        real([item for item in batch if item[0] is not PING])

    monkeypatch.setattr(jobs, "_send", capture)
    return captured


async def _rename(user: User, name: str) -> None:
    await User.filter(id=user.id).update(name=name)


async def test_a_committed_transaction_sends_its_jobs_in_order_once_committed(
    sent: list[Any], make_user: UserFactory
) -> None:
    user = await make_user()
    async with transaction():
        await _rename(user, "committed")
        await enqueue_async(PING, 1)
        enqueue(PING, 2)
        await enqueue_async(PING, 3, delay_ms=500)
        assert sent == []  # held until the commit
    assert sent == [
        ("touch_token", (1,), None), ("touch_token", (2,), None), ("touch_token", (3,), 500)
    ]
    assert (await User.get(id=user.id)).name == "committed"


async def test_a_rolled_back_transaction_sends_nothing(
    sent: list[Any], make_user: UserFactory
) -> None:
    user = await make_user()
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with transaction():
            await _rename(user, "rolled back")
            await enqueue_async(PING, 1)
            raise RuntimeError("changed my mind")
    assert sent == []
    assert (await User.get(id=user.id)).name != "rolled back"


async def test_a_nested_transaction_sends_with_the_outermost_and_drops_with_its_own(
    sent: list[Any], make_user: UserFactory
) -> None:
    user = await make_user()
    async with transaction():
        await enqueue_async(PING, "outer")
        async with transaction():
            await enqueue_async(PING, "inner kept")
        assert sent == []  # a released savepoint is no commit
        with pytest.raises(RuntimeError):
            async with transaction():
                await _rename(user, "inner rolled back")
                await enqueue_async(PING, "inner dropped")
                raise RuntimeError
        await enqueue_async(PING, "outer again")
    assert [args[0] for _, args, _ in sent] == ["outer", "inner kept", "outer again"]
    assert (await User.get(id=user.id)).name != "inner rolled back"
    sent.clear()
    with pytest.raises(RuntimeError):
        async with transaction():
            async with transaction():
                await enqueue_async(PING, "inner of a rolled back outer")
            raise RuntimeError
    assert sent == []


async def test_outside_a_transaction_a_job_is_sent_at_once(sent: list[Any]) -> None:
    await enqueue_async(PING, 1)
    assert sent == [("touch_token", (1,), None)]
    enqueue(PING, 2)
    assert sent[-1] == ("touch_token", (2,), None)


async def test_a_task_outliving_its_transaction_sends_at_once(sent: list[Any]) -> None:
    release = asyncio.Event()

    async def late() -> None:
        await release.wait()
        await enqueue_async(PING, "late")

    async with transaction():
        task = asyncio.create_task(late())  # inherits the transaction's scope
    release.set()
    await task
    assert sent == [("touch_token", ("late",), None)]


def test_every_misspelt_or_misqueued_reference_is_named() -> None:
    import dramatiq

    broker = StubBroker()
    dramatiq.actor(lambda: None, actor_name="real_job", queue_name="right", broker=broker)
    good = JobName("real_job", queue="right")
    misspelt = JobName("reel_job", queue="right")
    misqueued = JobName("real_job", queue="wrong")
    try:
        check_jobs(broker, [good])
        with pytest.raises(UnknownJobError) as failed:
            check_jobs(broker, [good, misspelt, misqueued])
    finally:
        for job in (good, misspelt, misqueued):  # not for the session server's start-up
            jobs._referenced.remove(job)
    assert failed.value.code == "UNKNOWN_JOB"
    assert failed.value.problems == [
        "tests.plugin.test_jobs refers to the job 'reel_job': no actor has that name",
        "tests.plugin.test_jobs refers to the job 'real_job' on the queue 'wrong': "
        "its actor is on 'right'",
    ]


def test_every_job_the_code_refers_to_has_its_actor() -> None:
    """Every module imported: no reference anywhere names a missing actor or queue."""
    import importlib
    import pkgutil

    import dramatiq

    from workers.broker import load_actors

    for package in ("plugin", "consent", "graphql_schema", "workers"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    load_actors()  # on the current broker, as start-up does
    broker = dramatiq.get_broker()
    ours = [job for job in jobs.referenced_jobs() if not job.referred_by.startswith("tests.")]
    assert {job.name for job in ours} >= {"send_email_copy", "finalise_clicks", "touch_token"}
    check_jobs(broker, ours)


START = """
import sys
from plugin.composition import start_runtime
from plugin.errors import UnknownJobError
from plugin.jobs import JobName
from plugin.settings import load_settings

JobName("send_emial_copy", queue="send")  # misspelt
try:
    start_runtime(load_settings(), embedded_worker=False)
except UnknownJobError as error:
    print(error.code)
    print(error.message)
    sys.exit(3)
print("started")
"""


def test_a_misspelt_reference_fails_start_up(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MAILBEACON_ENV": "test",
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
    }
    env.pop("MAILBEACON_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", START], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    code, message = done.stdout.split("\n", 1)
    assert code == "UNKNOWN_JOB"
    assert "__main__ refers to the job 'send_emial_copy': no actor has that name" in message
