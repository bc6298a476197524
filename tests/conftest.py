"""Test fixtures: a private database (SQLite or PostgreSQL), a Redis key prefix, a live server.

``MAILBEACON_TEST_DB=postgres`` runs the suite against PostgreSQL (127.0.0.1:5432);
the default is an SQLite file. Every run makes its own database and Redis prefix
and removes them afterwards, so runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from dramatiq.brokers.stub import StubBroker

# The browser fixtures (`browser`, `page`) for tests that drive a real chromium.
pytest_plugins = ["tests.browser"]

# Actor modules imported by tests before the app starts must not make Dramatiq
# build its default (RabbitMQ) broker; the app re-declares them on its own broker.
dramatiq.set_broker(StubBroker())

PG_ADMIN_DSN = os.environ.get("MAILBEACON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MAILBEACON_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]
# The bearer token the session server's /metrics wants (tests/observability).
METRICS_TOKEN = secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend() -> str:
    return os.environ.get("MAILBEACON_TEST_DB", "sqlite")


@dataclass
class TestDatabase:
    url: str
    name: str | None  # the PostgreSQL database to drop, if any


async def _create_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mailbeacon-data")


@pytest.fixture(scope="session")
async def test_database(data_dir: Path) -> AsyncIterator[TestDatabase]:
    if backend() == "postgres":
        name = f"mbtest_{RUN_ID}"
        await _create_pg_database(name)
        base = PG_ADMIN_DSN.rsplit("/", 1)[0]
        yield TestDatabase(url=f"{base}/{name}", name=name)
        await _drop_pg_database(name)
    else:
        yield TestDatabase(url=f"sqlite://{data_dir / 'test.sqlite3'}", name=None)


@pytest.fixture(scope="session")
def server_port() -> int:
    return free_port()


class SmtpRecorder:
    """An aiosmtpd handler that keeps what it accepts; tests script refusals with ``replies``."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.replies: list[str] = []  # answers to the next DATA commands, e.g. "451 4.3.0 later"
        self.refuse: dict[str, str] = {}  # recipient -> RCPT answer, e.g. "550 5.1.1 no such user"
        self.port = 0
        # Advertise ESMTP PIPELINING to sessions opened from now on (aiosmtpd handles
        # pipelined commands; it just does not say so).
        self.pipelining = False

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append(envelope)
        return "250 OK"

    def reset(self) -> None:
        self.envelopes.clear()
        self.replies.clear()
        self.refuse.clear()

    def start(self) -> None:
        """Listen on ``self.port`` (the same port again after ``stop``)."""
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop listening and drop every open session, as a server going down does."""
        self.controller.stop()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpRecorder]:
    """A real SMTP server (aiosmtpd) on a free port for the whole run; the app sends to it."""
    recorder = SmtpRecorder()
    recorder.port = free_port()
    recorder.start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="session")
def base_env(test_database: TestDatabase, data_dir: Path, server_port: int,
             smtp_server: SmtpRecorder) -> dict[str, str]:
    """The MAILBEACON_* environment of this run (embedded mode: no Redis)."""
    return {
        "MAILBEACON_ENV": "test",
        "MAILBEACON_DATA_DIR": str(data_dir),
        "MAILBEACON_SECRET_KEY": secrets.token_urlsafe(48),
        "MAILBEACON_DATABASE_URL": test_database.url,
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{server_port}",
        "MAILBEACON_PORT": str(server_port),
        "MAILBEACON_REDIS_PREFIX": f"mbtest:{RUN_ID}",
        "MAILBEACON_SCANNER_WINDOW_SECONDS": "10",
        # Short waits between delivery attempts (the defaults wait up to a minute).
        "MAILBEACON_SEND_RETRY_SECONDS": "0.2,0.5,1",
        "MAILBEACON_SMTP_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "MAILBEACON_METRICS_TOKEN": METRICS_TOKEN,
        "MAILBEACON_CONSOLE": "true",  # the browser tests drive it (off by default in test)
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Any:
    from plugin.settings import load_settings

    return load_settings(base_env)


@pytest.fixture(scope="session")
async def migrated(settings: Any) -> Any:
    from plugin.db import migrate

    await migrate(settings)
    return settings


@pytest.fixture(scope="session")
async def server(migrated: Any, server_port: int) -> AsyncIterator[str]:
    """The real app under uvicorn on the test loop, embedded mode; yields its base URL."""
    import uvicorn

    from plugin.app import create_app

    app = create_app(migrated)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=server_port,
        lifespan="on",
        proxy_headers=False,
        access_log=False,
        log_level="warning",
    )
    uv_server = uvicorn.Server(config)
    task = asyncio.create_task(uv_server.serve())
    for _ in range(500):
        if uv_server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    yield f"http://127.0.0.1:{server_port}"
    uv_server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator[Any]:
    """Real Redis; every key this run writes starts with its prefix and is removed at the end."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    yield client
    async for key in client.scan_iter(match=f"mbtest:{RUN_ID}*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client


@dataclass
class ApiUser:
    id: int
    email: str
    token: str


UserFactory = Callable[..., Awaitable[ApiUser]]


@pytest.fixture
def make_user(server: str) -> UserFactory:
    """Create a user with a fresh address and an API token (the ORM is the server's)."""
    from plugin.accounts.service import create_user, issue_token

    async def factory(*, admin: bool = False, name: str | None = None) -> ApiUser:
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        user = await create_user(email, name=name, is_admin=admin)
        return ApiUser(id=user.id, email=user.email, token=await issue_token(user))

    return factory


GraphQL = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQL:
    """POST a GraphQL document as a user (or anonymously) and return the JSON answer."""

    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: ApiUser | None = None,
        headers: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Authorization"] = f"Bearer {user.token}"
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        body: dict[str, Any] = response.json()
        body["_status"] = response.status_code
        return body

    return run


@pytest.fixture
def corpus_dir() -> Path:
    from tests.corpus import CORPUS_DIR

    return CORPUS_DIR
