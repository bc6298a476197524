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
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib

__all__ = ["IDLE_SECONDS", "MAX_MESSAGES_PER_CONNECTION", "SmtpPool", "close_pools", "pool_for"]

IDLE_SECONDS = 30.0
PROBE_AFTER_SECONDS = 1.0
MAX_MESSAGES_PER_CONNECTION = 100
QUIT_TIMEOUT_SECONDS = 5.0


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    last_used: float = field(default_factory=time.monotonic)
    messages: int = 0


class SmtpPool:
    """Up to ``size`` open connections to one server (``options``: aiosmtplib.SMTP arguments)."""

    def __init__(self, options: dict[str, Any], size: int) -> None:
        self._options = options
        self._reuse = size > 0
        # Without reuse, as many connections as there are messages being sent.
        self._slots: asyncio.Semaphore | contextlib.nullcontext[None] = (
            asyncio.Semaphore(size) if size > 0 else contextlib.nullcontext()
        )
        self._idle: list[_Connection] = []
        self._closed = False

    async def send(
        self, message: EmailMessage, sender: str, recipients: Sequence[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """Send one message; return the refused recipients. aiosmtplib errors pass through."""
        async with self._slots:
            connection = await self._idle_connection() or await self._connect()
            try:
                refused, _ = await connection.client.send_message(
                    message, sender=sender, recipients=list(recipients)
                )
            except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as error:
                # A refusal: the client has reset the envelope; the session is still good
                # unless the server is closing it (421) or it broke meanwhile.
                closing = isinstance(error, aiosmtplib.SMTPResponseException) and error.code == 421
                await self._release(connection, reusable=not closing)
                raise
            except BaseException:
                _abort(connection)
                raise
            connection.messages += 1
            await self._release(connection, reusable=True)
            return refused

    async def close(self) -> None:
        """End every idle connection politely; connections in use end when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(connection) for connection in idle))

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
