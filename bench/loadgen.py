"""Open-loop HTTP load and lag arithmetic, shared by bench_load.py and bench_soak.py.

Open loop: hit n is due at ``start + n / rate`` and goes out then, whatever
happened to the earlier ones (a free keep-alive connection, or a new one); its
answer time counts from when it was due, so a slow server cannot slow the
arrivals down and hide its own queueing (no coordinated omission). Every hit
comes from its own client address (``X-Forwarded-For`` from 127.0.0.1, which the
servers trust), so the tracker sees distinct readers, as in real mail.

Lag to "counted" is read off cumulative curves: a poller samples the total the
tracker has counted (every ``POLL_SECONDS``), and the k-th answered hit counts as
counted at the first sample that reached k (first in, first counted; a batch
pipeline reorders within a batch, which moves no percentile by more than the
batch's own spread). The same for the k-th event at a subscriber.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Hits",
    "OpenLoop",
    "Poller",
    "SubscriberClock",
    "client_address",
    "lags",
    "pixel_request",
    "quantile",
    "summary",
]

POLL_SECONDS = 0.02
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"


def client_address(n: int) -> str:
    """A distinct address per hit in 198.18.0.0/15 (benchmarking, RFC 2544): 131,072 of them."""
    n %= 1 << 17
    return f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Hits:
    """What happened to each hit of one run: when it was due, answered, with what status."""

    due: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)  # nan: no answer
    status: list[int] = field(default_factory=list)  # 0: no answer (connection lost)

    def answered(self) -> list[int]:
        return [i for i, s in enumerate(self.status) if 200 <= s < 400]  # a click redirects

    def answer_times(self) -> list[float]:
        return [self.answered_at[i] - self.due[i] for i in self.answered()]


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, load: OpenLoop) -> None:
        self.load = load
        self.buffer = b""
        self.hit = -1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15:stop if stop >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length:]
        hit, self.hit = self.hit, -1
        self.load._answered(self, hit, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load._lost(self)


class OpenLoop:
    """Fires requests at a fixed rate over a growing pool of keep-alive connections."""

    def __init__(self, host: str, port: int, max_connections: int = 4000) -> None:
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()  # every live connection, busy or idle
        self.connections = 0
        self.waiting: deque[int] = deque()  # hits due while every connection was busy
        self.hits = Hits()
        self._requests: list[bytes] = []
        self._done: asyncio.Event | None = None
        self._outstanding = 0

    async def warm(self, count: int) -> None:
        await asyncio.gather(*(self._open() for _ in range(count)))

    async def _open(self) -> None:
        self.connections += 1
        try:
            _, protocol = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.connections -= 1
            raise
        self.open.add(protocol)
        self._release(protocol)

    async def run(self, rate: float, duration: float, request: Callable[[int], bytes],
                  first: int = 0, answer_timeout: float = 60) -> Hits:
        """Send ``rate * duration`` requests (``request(first + i)``); wait for their answers."""
        total = int(rate * duration)
        self.hits = Hits(due=[0.0] * total, answered_at=[float("nan")] * total,
                         status=[0] * total)
        self._requests = [request(first + i) for i in range(total)]
        self._outstanding = total
        self._done = asyncio.Event()
        start = time.perf_counter() + 0.05
        n = 0
        while n < total:  # fire everything due, then sleep until the next one is
            now = time.perf_counter()
            while n < total and start + n / rate <= now:
                self.hits.due[n] = start + n / rate
                self._fire(n)
                n += 1
            if n < total:
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        # Hits still unanswered by then stay unanswered (status 0).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout=answer_timeout)
        return self.hits

    def _fire(self, n: int) -> None:
        if self.idle:
            connection = self.idle.pop()
            connection.hit = n
            assert connection.transport is not None
            connection.transport.write(self._requests[n])
        elif self.connections < self.max_connections:
            self.waiting.append(n)
            asyncio.get_running_loop().create_task(self._open_quietly())
        else:
            self.waiting.append(n)

    async def _open_quietly(self) -> None:
        with contextlib.suppress(OSError):
            await self._open()

    def _release(self, connection: _Connection) -> None:
        if self.waiting:
            n = self.waiting.popleft()
            connection.hit = n
            assert connection.transport is not None
            connection.transport.write(self._requests[n])
        else:
            self.idle.append(connection)

    def _answered(self, connection: _Connection, hit: int, status: int) -> None:
        if hit >= 0:
            self.hits.answered_at[hit] = time.perf_counter()
            self.hits.status[hit] = status
            self._finish_one()
        self._release(connection)

    def _lost(self, connection: _Connection) -> None:
        self.connections -= 1
        self.open.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.hit >= 0:
            connection.hit = -1
            self._finish_one()

    def _finish_one(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0 and self._done is not None:
            self._done.set()

    def close(self) -> None:
        """Close every connection, also those still waiting for an answer."""
        for connection in list(self.open):
            if connection.transport is not None:
                connection.transport.close()


class Poller:
    """Samples ``read()`` (a counted total) every POLL_SECONDS: (time, total) pairs."""

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self.read = read
        self.times: list[float] = []
        self.totals: list[int] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            total = await self.read()
            self.times.append(time.perf_counter())
            self.totals.append(total)
            await asyncio.sleep(POLL_SECONDS)

    def latest(self) -> int:
        return self.totals[-1] if self.totals else 0

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def reached(self, total: int) -> float:
        """The first sample time at which the total was ``total`` or more (nan: never)."""
        i = bisect.bisect_left(self.totals, total)  # totals never go down
        return self.times[i] if i < len(self.totals) else float("nan")


def lags(due: list[float], counted_at: Callable[[int], float]) -> list[float]:
    """Lag of the k-th hit (in due order) = when the k-th count arrived - when it was due."""
    return [counted_at(k + 1) - t for k, t in enumerate(sorted(due))]


class SubscriberClock:
    """A graphql-transport-ws subscriber; keeps the time of every event it receives."""

    def __init__(self, query: str = "subscription { trackingEvents { id } }") -> None:
        self.query = query
        self.arrivals: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, token: str) -> None:
        import websockets

        self.ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                           max_queue=None, open_timeout=30)
        await self.ws.send(json.dumps({"type": "connection_init",
                                       "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe",
                                       "payload": {"query": self.query}}))
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import websockets

        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    raw = raw.decode()
                if raw.startswith('{"type":"next"') or '"next"' in raw[:40]:
                    self.arrivals.append(time.perf_counter())
                elif '"ping"' in raw[:40]:
                    await self.ws.send('{"type":"pong"}')

    def reached(self, count: int) -> float:
        return self.arrivals[count - 1] if count <= len(self.arrivals) else float("nan")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if hasattr(self, "ws"):
            await self.ws.close()


def pixel_request(paths: list[str], host: str, agent: str = THUNDERBIRD) -> Callable[[int], bytes]:
    """Request n: ``paths[n % len(paths)]``, from its own client address."""
    def make(n: int) -> bytes:
        return (f"GET {paths[n % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n"
                f"User-Agent: {agent}\r\nX-Forwarded-For: {client_address(n)}\r\n\r\n").encode()
    return make


def summary(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if v == v]
    return {"n": len(finite), "missing": len(values) - len(finite),
            "p50_ms": quantile(finite, 0.5) * 1000, "p99_ms": quantile(finite, 0.99) * 1000}
