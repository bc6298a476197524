"""A pooled transaction whose BEGIN fails gives its connection back (plugin.db).

PostgreSQL shutting down tells each connection idling in the pool so (a FATAL
"terminating connection due to administrator command") and closes it. A client
that sends BEGIN in between fails it ("cannot switch to state 15; another
operation (2) is in progress"), and Tortoise kept that connection out of the pool
for good: seen with a real `mailbeacon worker` after PostgreSQL outages, whose
pool then held one connection fewer each time. Here a real PostgreSQL sits
behind a small TCP relay that plays that shutdown: it sends the FATAL message,
then closes each connection at the next thing its client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any
from urllib.parse import urlsplit

import pytest
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

import plugin.db  # noqa: F401 - applies the fix to Tortoise's pooled transactions
from tests.conftest import PG_ADMIN_DSN, backend

pytestmark = pytest.mark.skipif(backend() != "postgres", reason="a PostgreSQL pool")


def _error_response(*fields: tuple[bytes, bytes]) -> bytes:
    body = b"".join(code + value + b"\0" for code, value in fields) + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


_ADMIN_SHUTDOWN = _error_response(
    (b"S", b"FATAL"), (b"V", b"FATAL"), (b"C", b"57P01"),
    (b"M", b"terminating connection due to administrator command"),
)


class CuttableRelay:
    """Relays TCP to PostgreSQL; once cut, a connection dies at its client's next write."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.server: asyncio.Server | None = None
        self.clients: list[asyncio.StreamWriter] = []

    def shut_down(self) -> None:
        """What PostgreSQL's fast shutdown sends each open connection, then cut them."""
        self.cut = True
        for writer in self.clients:
            if not writer.is_closing():
                writer.write(_ADMIN_SHUTDOWN)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.clients.append(writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upward: bool) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    if upward and self.cut:
                        break  # the client wrote to a dead server: it finds the socket closed
                    dst.write(data)
                    await dst.drain()
            for w in (writer, up_writer):
                w.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def relay() -> AsyncIterator[CuttableRelay]:
    target = urlsplit(PG_ADMIN_DSN)
    server = CuttableRelay(target.hostname or "127.0.0.1", target.port or 5432)
    yield server
    await server.close()


async def test_a_transaction_whose_begin_fails_gives_its_connection_back(
    relay: CuttableRelay,
) -> None:
    port = await relay.start()
    target = urlsplit(PG_ADMIN_DSN)
    # A pool of one: a single connection kept out of it would stop every later transaction.
    url = f"postgres://{target.username}@127.0.0.1:{port}{target.path}?minsize=1&maxsize=1"
    config = {
        "connections": {"default": url},
        "apps": {"models": {"models": ["plugin.accounts.models"], "default_connection": "default"}},
    }
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        for _ in range(3):
            relay.cut = False
            # Bounded only so that a regression fails instead of hanging the suite.
            assert await asyncio.wait_for(_in_own_task(_select_one()), 30) == 1
            relay.shut_down()  # PostgreSQL stops while the connection idles in the pool
            await asyncio.sleep(0.1)  # the FATAL message arrives before the next BEGIN
            with pytest.raises(Exception):  # whatever the driver raises
                await _in_own_task(_empty_transaction())
        relay.cut = False
        assert await asyncio.wait_for(_in_own_task(_select_one()), 30) == 1


async def _in_own_task(coro: Coroutine[Any, Any, Any]) -> Any:
    """As a worker runs each actor and each batch of hits: a task with its own context."""
    return await asyncio.create_task(coro)


async def _select_one() -> int:
    async with in_transaction() as conn:
        return int((await conn.execute_query_dict("SELECT 1 AS one"))[0]["one"])


async def _empty_transaction() -> None:
    async with in_transaction():
        pass
