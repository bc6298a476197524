"""Reused SMTP connections: a small pool per mail server, per event loop.

Opening a connection costs a TCP handshake, the greeting, EHLO, often STARTTLS
(a TLS handshake and a second EHLO) and AUTH before the first message; a
per-recipient send of 100 copies would pay that 100 times. The pool keeps up to
``size`` connections to one server open and sends the next message on an idle
one (``SMTP_POOL_SIZE``; 0 turns reuse off).

A connection is not reused after the server closed it (seen by the event loop),
after it sat idle longer than ``IDLE_SECONDS`` (servers and NATs drop idle
sessions), after ``MAX_MESSAGES_PER_CONNECTION`` messages (servers cap them),
or after any failure other than a clean refusal (4xx/5xx reply: the client
resets the envelope and the session goes on). One idle for over a second is
probed with NOOP first (one round trip, only between bursts). A message is
never retried here: a connection that breaks while sending (including one the
server closed less than a second after its last use, not yet seen) fails that
attempt as temporary, and the caller's rules apply (plugin.sending.dispatch).

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

from plugin.sending.smtp_pipeline import Envelope, Outcome, prepare, send_chain, use_pipelining

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
    """

    def __init__(self, options: dict[str, Any], size: int) -> None:
        self._options = options
        self._reuse = size > 0
        self._slots = asyncio.Semaphore(size if size > 0 else UNPOOLED_CONNECTIONS)
        self._lanes = size if size > 0 else UNPOOLED_CONNECTIONS
        self._idle: list[_Connection] = []
        self._closed = False

    async def send(
        self, message: EmailMessage, sender: str, recipients: Sequence[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Send one message; return the refused recipients. aiosmtplib errors pass through."""
        (outcome,) = await self.send_many([(message, sender, recipients)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def send_many(
        self, messages: Sequence[tuple[EmailMessage, str, Sequence[str]]]
    ) -> list[Outcome]:
        """Send every message (over up to ``size`` connections at once); for each, in
        order, the refused recipients or the aiosmtplib error (or OSError) it ended with."""
        work = _Work(messages)
        lanes = min(len(messages), self._lanes)
        await asyncio.gather(*(self._lane(work) for _ in range(lanes)))
        return work.finish()

    async def close(self) -> None:
        """End every idle connection politely; connections in use end when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(connection) for connection in idle))

    async def _lane(self, work: _Work) -> None:
        """One connection at a time takes messages from ``work`` until none is left."""
        async with self._slots:
            while work.waiting:
                # Reserved before connecting: no connection is opened for a message that
                # another lane takes meanwhile.
                first = work.waiting.popleft()
                try:
                    connection = await self._idle_connection() or await self._connect()
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                    # The server is unreachable: the messages no lane could take fail with this.
                    work.no_connection(first, error)
                    return
                try:
                    reusable = await self._send_on(connection, work, first)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                    # Only the greeting after STARTTLS gets here (sending settles its errors).
                    _abort(connection)
                    work.no_connection(first, error)
                    return
                except BaseException:
                    _abort(connection)
                    raise
                await self._release(connection, reusable=reusable)

    async def _send_on(self, connection: _Connection, work: _Work, first: int) -> bool:
        """Message ``first``, then (with reuse) more from ``work``, on ``connection``;
        whether the connection is still good."""
        client = connection.client
        room = MAX_MESSAGES_PER_CONNECTION - connection.messages if self._reuse else 1
        if await use_pipelining(client):
            reserved: int | None = first

            def take() -> tuple[int, Envelope] | None:
                nonlocal room, reserved
                while room > 0 and (reserved is not None or work.waiting):
                    if reserved is not None:
                        index, reserved = reserved, None
                    else:
                        index = work.waiting.popleft()
                    message, sender, recipients = work.messages[index]
                    try:
                        envelope = prepare(client, message, sender, recipients)
                    except (ValueError, aiosmtplib.SMTPException) as error:
                        work.settle(index, error)
                        continue
                    room -= 1
                    connection.messages += 1
                    return index, envelope
                return None

            return await send_chain(client, take, work.settle, work.give_back)
        message, sender, recipients = work.messages[first]
        connection.messages += 1
        try:
            refused, _ = await client.send_message(
                message, sender=sender, recipients=list(recipients)
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as error:
            # A refusal: the client has reset the envelope; the session is still good
            # unless the server is closing it (421) or it broke meanwhile.
            work.settle(first, error)
            return not (isinstance(error, aiosmtplib.SMTPResponseException) and error.code == 421)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as error:
            work.settle(first, error)
            return False
        work.settle(first, refused)
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
    """The messages of one ``send_many`` call, shared by its lanes."""

    def __init__(self, messages: Sequence[tuple[EmailMessage, str, Sequence[str]]]) -> None:
        self.messages = messages
        self.waiting: deque[int] = deque(range(len(messages)))
        self._outcomes: dict[int, Outcome] = {}
        self._given_back: set[int] = set()
        self._unreachable: BaseException | None = None

    def settle(self, index: int, outcome: Outcome) -> None:
        self._outcomes[index] = outcome

    def give_back(self, index: int) -> None:
        """``index`` certainly did not reach the server: another connection may try it, once."""
        if index in self._given_back:
            self._outcomes[index] = aiosmtplib.SMTPServerDisconnected("Connection lost")
        else:
            self._given_back.add(index)
            self.waiting.appendleft(index)

    def no_connection(self, index: int, error: BaseException) -> None:
        """No connection for ``index``: it fails with ``error``, and so will what no other
        lane takes."""
        self._unreachable = error
        self.settle(index, error)

    def finish(self) -> list[Outcome]:
        fallback = self._unreachable or aiosmtplib.SMTPServerDisconnected("not sent")
        return [self._outcomes.get(i, fallback) for i in range(len(self.messages))]


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
