"""Faults with real processes: Redis restarted, a worker killed, PostgreSQL down for 30 s,
an embedded serve killed, while opens arrive.

`mailbeacon serve` and `mailbeacon worker` run as subprocesses against a Redis of
the test's own (append-only, restarted by the test) and a PostgreSQL database of
the test's own. Opens arrive one by one, each from its own client. Whatever was
answered 200 must be recorded exactly once; whatever was answered 503 (Redis
down) at most once; the figures and the bell must match the stored events; both
processes must come back by themselves and stop with exit 0 on SIGTERM.

The distributed tests run in the PostgreSQL pass of the suite; the embedded one (SQLite,
spool) in the SQLite pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import (
    PG_ADMIN_DSN,
    REDIS_URL,
    RUN_ID,
    _create_pg_database,
    _drop_pg_database,
    backend,
    free_port,
)
from tests.tracking.tracked_mail import THUNDERBIRD_UA

pytestmark = pytest.mark.slow
distributed_only = pytest.mark.skipif(
    backend() != "postgres", reason="the distributed mode runs on PostgreSQL"
)

ROOT = Path(__file__).resolve().parents[2]
MAILBEACON = [sys.executable, "-m", "plugin.cli"]


class OwnRedis:
    """A Redis of this test's own, append-only (every write fsynced), restartable."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # a clean shutdown: the append-only file is complete
            self.proc.wait(20)
            self.proc = None


@dataclass
class Processes:
    env: dict[str, str]
    directory: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[object] = field(default_factory=list)

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        handle = (self.directory / f"{name}.log").open("ab")
        self.logs.append(handle)
        # A session of its own: a SIGKILL reaches the whole process group (granian's
        # worker process survives its main process otherwise).
        proc = subprocess.Popen(
            [*MAILBEACON, *args],
            env=self.env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything it started."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes[name] = None
        for handle in self.logs:
            handle.close()  # type: ignore[attr-defined]
        return codes


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = f"mbfault_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    await _create_pg_database(name)
    yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    await _drop_pg_database(name)


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [*MAILBEACON, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _until(predicate: object, what: str, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _send_tracked_mail(base: str, token: str, outbox: Path) -> str:
    query = """mutation { sendEmail(input: {to: ["reader@example.org"], subject: "Hi",
        html: "<p>Hello</p>"}) { email { id } errors { code message } } }"""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.json()["data"]["sendEmail"]["errors"] == [], answer.text

    async def delivered() -> bool:
        return any(outbox.glob("*.eml")) if outbox.exists() else False

    await _until(delivered, "the email in the outbox", 60)
    [eml] = outbox.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    found = re.search(r'src="[^"]*(/t/o/[^"]+\.gif)"', html)
    assert found, html
    return found.group(1)


@distributed_only
async def test_redis_restart_and_a_killed_worker_lose_nothing_and_count_nothing_twice(
    tmp_path: Path, own_redis: OwnRedis, database: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": database,
        "MAILBEACON_REDIS_URL": own_redis.url,
        "MAILBEACON_REDIS_PREFIX": f"mbtest:{RUN_ID}:faults",
        "PYTHONPATH": str(ROOT),
    }
    _run(["migrate"], env)
    token = _run(["users", "create", "seller@example.com"], env).strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster = Processes(env, tmp_path)
    statuses: dict[int, int] = {}
    try:
        serve = cluster.spawn("serve", ["serve", "--port", str(port)])
        cluster.spawn("worker", ["worker", "--threads", "2"])

        async def healthy() -> bool:
            assert serve.poll() is None, cluster.log("serve")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{base}/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await _until(healthy, "serve to start", 60)
        pixel = await _send_tracked_mail(base, token, tmp_path / "outbox")

        async def opens(first: int, count: int) -> None:
            """One at a time, each from its own client (its own user agent)."""
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                for i in range(first, first + count):
                    try:
                        answer = await client.get(pixel, headers={"User-Agent": _ua(i)})
                        statuses[i] = answer.status_code
                    except httpx.TransportError:
                        statuses[i] = 0
                    await asyncio.sleep(0.005)

        await opens(0, 100)
        own_redis.stop()  # Redis restarts while opens arrive
        restart = asyncio.get_running_loop().run_in_executor(None, _restart_later, own_redis)
        await opens(100, 100)
        await restart
        await opens(200, 100)
        cluster.kill("worker")  # SIGKILL: whatever it held is unacknowledged
        await opens(300, 100)
        cluster.spawn("worker", ["worker", "--threads", "2"])  # a new consumer takes over
        await opens(400, 100)

        answered = {i for i, status in statuses.items() if status == 200}
        assert len(answered) >= 300, statuses  # the outage was short
        assert {statuses[i] for i in statuses if i not in answered} <= {0, 503}
        conn = await asyncpg.connect(database)
        try:

            async def all_answered_recorded() -> bool:
                rows = await conn.fetch("SELECT user_agent FROM mb_tracking_event")
                stored = {row["user_agent"] for row in rows}
                return all(_ua(i) in stored for i in answered)

            await _until(all_answered_recorded, "every answered open to be recorded", 120)
            rows = await conn.fetch(
                "SELECT user_agent, count(*) AS n, bool_and(source = 'HUMAN') AS human "
                "FROM mb_tracking_event GROUP BY user_agent"
            )
            assert all(row["n"] == 1 for row in rows), [r for r in rows if r["n"] != 1]
            assert all(row["human"] for row in rows)
            recorded = len(rows)
            open_count = await conn.fetchval("SELECT open_count FROM mb_sent_email")
            assert open_count == recorded  # every stored open is a counted one, once

            async def bell_caught_up() -> bool:
                rung = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM mb_notification")
                return int(rung) == recorded

            # A notification message the killed worker held comes back when Dramatiq's
            # maintenance finds the dead worker (its heartbeat timeout is 60 s).
            await _until(bell_caught_up, "the bell to count every open", 180)
        finally:
            await conn.close()
    finally:
        codes = cluster.stop_all()
    assert codes == {"serve": 0, "worker": 0}, (codes, cluster.log("serve"), cluster.log("worker"))


class OwnPostgres:
    """A PostgreSQL cluster of this test's own (as the postgres user), stopped and started."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.data = directory / "pgdata"
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/mailbeacon"

    def _as_postgres(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb refuses root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.directory.chmod(0o777)
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        self._as_postgres(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc",
            "CREATE DATABASE mailbeacon",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "pg.log"),
            "-w", "start",
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's temporary directory: its parents are private to root.
    directory = Path(tempfile.mkdtemp(prefix="mbtest-pg-"))
    try:
        server = OwnPostgres(directory)
        server.init()
        yield server
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@distributed_only
async def test_postgresql_down_for_30_seconds_hits_queue_and_are_recorded_once_after(
    tmp_path: Path, own_postgres: OwnPostgres
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": own_postgres.url,
        "MAILBEACON_REDIS_URL": REDIS_URL,
        "MAILBEACON_REDIS_PREFIX": f"mbtest:{RUN_ID}:pgdown{uuid.uuid4().hex[:6]}",
        "PYTHONPATH": str(ROOT),
    }
    try:
        await _postgresql_down_for_30_seconds(tmp_path, own_postgres, env)
    finally:
        await _remove_redis_keys(env["MAILBEACON_REDIS_PREFIX"])


async def _remove_redis_keys(prefix: str) -> None:
    """This test's serve and worker use the machine's Redis: leave none of their keys there."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(match=f"{prefix}:*"):
            await client.delete(key)
    finally:
        await client.aclose()


async def _postgresql_down_for_30_seconds(
    tmp_path: Path, own_postgres: OwnPostgres, env: dict[str, str]
) -> None:
    _run(["migrate"], env)
    token = _run(["users", "create", "seller@example.com"], env).strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster = Processes(env, tmp_path)
    statuses: dict[int, int] = {}
    try:
        cluster.spawn("serve", ["serve", "--port", str(port)])
        cluster.spawn("worker", ["worker", "--threads", "2"])
        await _until(lambda: _healthy(base), "serve to start", 60)
        pixel = await _send_tracked_mail(base, token, tmp_path / "outbox")
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def opens(first: int, count: int) -> None:
                for i in range(first, first + count):
                    answer = await client.get(pixel, headers={"User-Agent": _ua(i)})
                    statuses[i] = answer.status_code
                    await asyncio.sleep(0.01)

            await opens(0, 50)
            own_postgres.stop()
            stopped = asyncio.get_running_loop().time()
            await opens(50, 100)  # the hot path keeps answering: hits queue in Redis
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("error")
            assert ready.json()["checks"]["redis"] == "ok"
            # The API says what is wrong in GraphQL's own shape, not a bare 500.
            query = {"query": "{ sentEmails { totalCount } }"}
            refused = await client.post(
                "/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
            )
            assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
            assert refused.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
            await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - stopped)))
            own_postgres.start()
            await opens(150, 50)
            assert set(statuses.values()) == {200}  # nothing refused while the database was down

            async def ready_again() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await _until(ready_again, "/readyz to recover", 60)
        conn = await asyncpg.connect(own_postgres.url.replace("postgres://", "postgresql://"))
        try:

            async def caught_up() -> bool:
                return int(await conn.fetchval("SELECT count(*) FROM mb_tracking_event")) >= 200

            await _until(caught_up, "the worker to catch up", 120)
            rows = await conn.fetch(
                "SELECT user_agent, count(*) AS n FROM mb_tracking_event GROUP BY user_agent"
            )
            assert sorted(row["user_agent"] for row in rows) == sorted(_ua(i) for i in range(200))
            assert all(row["n"] == 1 for row in rows)  # nothing counted twice
            assert await conn.fetchval("SELECT open_count FROM mb_sent_email") == 200

            async def bell_caught_up() -> bool:
                rung = await conn.fetchval("SELECT coalesce(sum(count), 0) FROM mb_notification")
                return int(rung) == 200

            await _until(bell_caught_up, "the bell to count every open", 120)
        finally:
            await conn.close()
    finally:
        codes = cluster.stop_all()
    assert codes == {"serve": 0, "worker": 0}, (codes, cluster.log("serve"), cluster.log("worker"))


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/healthz")).status_code == 200
    except httpx.TransportError:
        return False


def _ua(i: int) -> str:
    return f"{THUNDERBIRD_UA} Reader/{i}"


def _restart_later(server: OwnRedis) -> None:
    import time

    time.sleep(0.5)
    server.start()


@pytest.mark.skipif(backend() != "sqlite", reason="the embedded mode runs on SQLite")
async def test_an_embedded_serve_killed_mid_batch_records_every_answered_open_once(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(tmp_path),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "PYTHONPATH": str(ROOT),
    }
    _run(["migrate"], env)
    token = _run(["users", "create", "seller@example.com"], env).strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cluster = Processes(env, tmp_path)
    statuses: dict[int, int] = {}
    try:
        cluster.spawn("serve", ["serve", "--port", str(port)])
        await _until(lambda: _healthy(base), "serve to start", 60)
        pixel = await _send_tracked_mail(base, token, tmp_path / "outbox")

        async def opens(first: int, count: int) -> None:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                for i in range(first, first + count):
                    try:
                        answer = await client.get(pixel, headers={"User-Agent": _ua(i)})
                        statuses[i] = answer.status_code
                    except httpx.TransportError:
                        statuses[i] = 0

        sending = asyncio.create_task(opens(0, 300))
        await asyncio.sleep(1.0)
        cluster.kill("serve")  # SIGKILL while opens arrive: what was answered is in the spool
        await sending
        cluster.spawn("serve", ["serve", "--port", str(port)])  # replays the spool at start
        await _until(lambda: _healthy(base), "serve to start again", 60)
        answered = {i for i, status in statuses.items() if status == 200}
        assert answered, statuses
        database = tmp_path / "mailbeacon.sqlite3"

        def stored() -> dict[str, int]:
            import sqlite3

            with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
                rows = conn.execute(
                    "SELECT user_agent, count(*) FROM mb_tracking_event GROUP BY user_agent"
                ).fetchall()
            return {str(ua): int(n) for ua, n in rows}

        async def all_answered_recorded() -> bool:
            found = await asyncio.to_thread(stored)
            return all(_ua(i) in found for i in answered)

        await _until(all_answered_recorded, "every answered open to be recorded", 60)
        found = await asyncio.to_thread(stored)
        assert all(count == 1 for count in found.values())
        assert set(found) <= {_ua(i) for i in statuses}
    finally:
        codes = cluster.stop_all()
    assert codes["serve"] == 0, cluster.log("serve")
