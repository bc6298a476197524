"""Reused SMTP connections: a small pool per mail server, per event loop.

Opening a connection costs a TCP handshake, the greeting, EHLO, often STARTTLS
(a TLS handshake and a second EHLO) and AUTH before the first message; a
per-recipient send of 100 copies would pay that 100 times. The pool keeps up to
``size`` connections to one server open and sends the next message on an idle
one (``SMTP_POOL_SIZE``; 0 turns reuse off: a new connection per message, at
most ``UNPOOLED_CONNECTIONS`` at once).

``send_many`` hands the pool several messages at once (the copies of a send).
Messages of every caller wait in one queue, and each connection in use takes
the next one from it: with ESMTP PIPELINING (plugin.sending.smtp_pipeline) a
connection then spends one round trip per message, its chain unbroken between
callers. Servers that do not offer PIPELINING get one command at a time.

A connection is not reused after the server closed it (seen by the event loop),
after it sat idle longer than ``IDLE_SECONDS`` (servers and NATs drop idle
sessions), after ``MAX_MESSAGES_PER_CONNECTION`` messages (servers cap them),
or after any failure other than a clean refusal (4xx/5xx reply: the client
resets the envelope and the session goes on). One idle for over a second is
probed with NOOP first (one round trip, only between bursts). A message whose
content went out is never retried here: a connection that breaks while sending
it (including one the server closed less than a second after its last use, not
yet seen) fails that attempt as temporary, and the caller's rules apply
(plugin.sending.send_job). Only a pipelined message whose content certainly
never went out (the connection broke before its envelope's replies) is tried
again, once, on another connection. When no connection can be opened, every
message waiting in the queue fails with that error at once (temporary).

aiosmtplib clients belong to the loop that opened them, so each event loop (the
worker's, a test's) has its own pools; ``close_pools`` ends the current loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from plugin.sending.smtp_pipeline import (
    Envelope,
    Outcome,
    prepare,
    send_chain,
    send_one,
    use_pipelining,
)
from plugin.sending.wire import Flat

__all__ = [
    "IDLE_SECONDS",
    "MAX_MESSAGES_PER_CONNECTION",
    "UNPOOLED_CONNECTIONS",
    "SmtpPool",
    "close_pools",
    "pool_for",
]

IDLE_SECONDS = 30.0
PROBE_AFTER_SECONDS = 1.0
MAX_MESSAGES_PER_CONNECTION = 100
QUIT_TIMEOUT_SECONDS = 5.0
# Without reuse (SMTP_POOL_SIZE=0), messages sent at once per loop and server: as many as
# the embedded worker's threads, the most it reached when every copy was its own job.
UNPOOLED_CONNECTIONS = 4


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    last_used: float = field(default_factory=time.monotonic)
    messages: int = 0


class SmtpPool:
    """Up to ``size`` open connections to one server (``options``: aiosmtplib.SMTP arguments).

    ``size`` 0: a new connection per message, at most ``UNPOOLED_CONNECTIONS`` at once.
    Messages of every caller wait in one queue; a connection in use takes the next one
    whoever sent it, so that its pipelined chain does not break between callers.
    """

    def __init__(self, options: dict[str, Any], size: int) -> None:
        self._options = options
        self._reuse = size > 0
        self._lanes = size if size > 0 else UNPOOLED_CONNECTIONS
        self._slots = asyncio.Semaphore(self._lanes)
        self._queue: deque[_Item] = deque()
        self._idle: list[_Connection] = []
        self._closed = False

    async def send(
        self, message: EmailMessage | Flat, sender: str, recipients: Sequence[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Send one message; return the refused recipients. aiosmtplib errors pass through."""
        (outcome,) = await self.send_many([(message, sender, recipients)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def send_many(
        self, messages: Sequence[tuple[EmailMessage | Flat, str, Sequence[str]]]
    ) -> list[Outcome]:
        """Send every message (over up to ``size`` connections at once); for each, in
        order, the refused recipients or the aiosmtplib error (or OSError) it ended with."""
        work = _Work(len(messages))
        if not messages:
            return []
        self._queue.extend(_Item(work, i, *m) for i, m in enumerate(messages))
        lanes = min(len(messages), self._lanes)
        await asyncio.gather(*(self._lane() for _ in range(lanes)))
        while not work.done.is_set():
            if any(item.work is work for item in self._queue):  # (never seen: a safety net)
                await self._lane()
            else:  # the last ones are on connections that other callers' lanes hold
                await work.done.wait()
        return work.outcomes()

    async def close(self) -> None:
        """End every idle connection politely; connections in use end when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(connection) for connection in idle))

    async def _lane(self) -> None:
        """One connection at a time takes messages from the queue until none is left."""
        async with self._slots:
            while self._queue:
                # Reserved before connecting: no connection is opened for a message that
                # another lane takes meanwhile.
                first = self._queue.popleft()
                try:
                    connection = await self._idle_connection() or await self._connect()
                    reusable = await self._send_on(connection, first)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                    # No connection (or no greeting after STARTTLS; sending settles its own
                    # errors): the server is unreachable, and every waiting message fails
                    # with this now rather than try it in turn.
                    first.settle(error)
                    while self._queue:
                        self._queue.popleft().settle(error)
                    return
                await self._release(connection, reusable=reusable)

    async def _send_on(self, connection: _Connection, first: _Item) -> bool:
        """Message ``first``, then (with reuse) more from the queue, on ``connection``;
        whether the connection is still good."""
        client = connection.client
        try:
            pipelined = await use_pipelining(client)
        except BaseException:
            _abort(connection)
            raise
        room = MAX_MESSAGES_PER_CONNECTION - connection.messages if self._reuse else 1
        if pipelined:
            reserved: _Item | None = first

            def take() -> tuple[_Item, Envelope] | None:
                nonlocal room, reserved
                while room > 0 and (reserved is not None or self._queue):
                    if reserved is not None:
                        item, reserved = reserved, None
                    else:
                        item = self._queue.popleft()
                    try:
                        envelope = prepare(client, item.message, item.sender, item.recipients)
                    except (ValueError, aiosmtplib.SMTPException) as error:
                        item.settle(error)
                        continue
                    room -= 1
                    connection.messages += 1
                    return item, envelope
                return None

            def give_back(item: _Item) -> None:
                """``item`` certainly did not reach the server: another connection tries
                it, once."""
                if item.given_back:
                    item.settle(aiosmtplib.SMTPServerDisconnected("Connection lost"))
                else:
                    item.given_back = True
                    self._queue.appendleft(item)

            try:
                return await send_chain(client, take, _Item.settle, give_back)
            except BaseException:
                _abort(connection)
                raise
        connection.messages += 1
        try:
            refused = await send_one(client, first.message, first.sender, first.recipients)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as error:
            # A refusal: the client has reset the envelope; the session is still good
            # unless the server is closing it (421) or it broke meanwhile.
            first.settle(error)
            return not (isinstance(error, aiosmtplib.SMTPResponseException) and error.code == 421)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as error:
            _abort(connection)
            first.settle(error)
            return False
        except BaseException:
            _abort(connection)
            raise
        first.settle(refused)
        return True

    async def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest alive
            idle_for = time.monotonic() - connection.last_used
            if not connection.client.is_connected or idle_for > IDLE_SECONDS:
                _abort(connection)
                continue
            if idle_for > PROBE_AFTER_SECONDS:
                try:
                    await connection.client.noop()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    _abort(connection)
                    continue
            return connection
        return None

    async def _connect(self) -> _Connection:
        client = aiosmtplib.SMTP(**self._options)
        await client.connect()
        return _Connection(client)

    async def _release(self, connection: _Connection, *, reusable: bool) -> None:
        keep = (
            reusable and self._reuse and not self._closed and connection.client.is_connected
            and connection.messages < MAX_MESSAGES_PER_CONNECTION
        )
        if keep:
            connection.last_used = time.monotonic()
            self._idle.append(connection)
        else:
            await _quit(connection)


class _Work:
    """The outcomes of one ``send_many`` call; ``done`` once every message has one."""

    def __init__(self, count: int) -> None:
        self._outcomes: list[Outcome | None] = [None] * count
        self._left = count
        self.done = asyncio.Event()
        if not count:
            self.done.set()

    def settle(self, index: int, outcome: Outcome) -> None:
        if self._outcomes[index] is None:
            self._outcomes[index] = outcome
            self._left -= 1
            if not self._left:
                self.done.set()

    def outcomes(self) -> list[Outcome]:
        return [o if o is not None else aiosmtplib.SMTPServerDisconnected("not sent")
                for o in self._outcomes]


@dataclass(eq=False)
class _Item:
    """One message waiting in the pool's queue, and where its outcome goes."""

    work: _Work
    index: int
    message: EmailMessage | Flat
    sender: str
    recipients: Sequence[str]
    given_back: bool = False

    def settle(self, outcome: Outcome) -> None:
        self.work.settle(self.index, outcome)


async def _quit(connection: _Connection) -> None:
    if not connection.client.is_connected:
        return
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await connection.client.quit(timeout=QUIT_TIMEOUT_SECONDS)
    _abort(connection)


def _abort(connection: _Connection) -> None:
    if connection.client.is_connected:
        connection.client.close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], SmtpPool]] = (
    weakref.WeakKeyDictionary()
)


def pool_for(url: str, options: dict[str, Any], size: int) -> SmtpPool:
    """The current loop's pool for the server at ``url`` (made on first use)."""
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get((url, size))
    if pool is None:
        pool = pools[(url, size)] = SmtpPool(options, size)
    return pool


async def close_pools() -> None:
    """Close the current loop's pools (at worker or server shutdown)."""
    pools = _pools.pop(asyncio.get_running_loop(), {})
    await asyncio.gather(*(pool.close() for pool in pools.values()))
