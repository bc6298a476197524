"""SMTP connection reuse against a real aiosmtpd server: one session for many messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from plugin.sending.smtp_pool import SmtpPool
from tests.conftest import SmtpRecorder, free_port


class SessionCounter(SmtpRecorder):
    """Counts the sessions (EHLO) the server saw; ``close_next_mail`` answers MAIL with 421;
    ``pipelining``: advertises ESMTP PIPELINING (aiosmtpd handles pipelined commands, it
    just does not say so)."""

    def __init__(self, pipelining: bool = False) -> None:
        super().__init__()
        self.sessions = 0
        self.close_next_mail = False
        self.pipelining = pipelining

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        return await super().handle_EHLO(server, session, envelope, hostname, responses)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.close_next_mail:
            self.close_next_mail = False
            return "421 4.3.2 closing, try later"
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture(params=[False, True], ids=["plain", "pipelining"])
def counter(request: pytest.FixtureRequest) -> Iterator[SessionCounter]:
    recorder = SessionCounter(pipelining=request.param)
    recorder.port = free_port()
    recorder.start()
    yield recorder
    recorder.stop()


def _message(i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", f"{i}"
    message.set_content(f"message {i}")
    return message


async def _until_closed(pool: SmtpPool) -> None:
    """Wait (bounded) until the client saw the server close its idle session."""
    for _ in range(200):
        if not any(c.client.is_connected for c in pool._idle):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the idle session still looks open")


def _pool(counter: SessionCounter, size: int) -> SmtpPool:
    return SmtpPool({"hostname": "127.0.0.1", "port": counter.port, "start_tls": False,
                     "timeout": 10}, size)


async def test_messages_share_one_session(counter: SessionCounter) -> None:
    pool = _pool(counter, 2)
    for i in range(10):
        assert await pool.send(_message(i), "a@example.com", ["b@example.com"]) == {}
    await pool.close()
    assert len(counter.envelopes) == 10 and counter.sessions == 1


async def test_size_zero_opens_a_session_per_message(counter: SessionCounter) -> None:
    pool = _pool(counter, 0)
    for i in range(3):
        await pool.send(_message(i), "a@example.com", ["b@example.com"])
    assert len(counter.envelopes) == 3 and counter.sessions == 3


async def test_a_refusal_keeps_the_session_and_a_421_ends_it(counter: SessionCounter) -> None:
    pool = _pool(counter, 1)
    counter.replies.append("451 4.3.0 later")
    with pytest.raises(aiosmtplib.SMTPResponseException):
        await pool.send(_message(0), "a@example.com", ["b@example.com"])
    await pool.send(_message(1), "a@example.com", ["b@example.com"])
    assert counter.sessions == 1
    counter.close_next_mail = True
    with pytest.raises(aiosmtplib.SMTPResponseException):
        await pool.send(_message(2), "a@example.com", ["b@example.com"])
    await pool.send(_message(3), "a@example.com", ["b@example.com"])
    await pool.close()
    assert counter.sessions == 2 and len(counter.envelopes) == 2


async def test_a_restarted_server_gets_a_new_session(counter: SessionCounter) -> None:
    pool = _pool(counter, 1)
    await pool.send(_message(0), "a@example.com", ["b@example.com"])
    counter.stop()
    await _until_closed(pool)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await pool.send(_message(1), "a@example.com", ["b@example.com"])
    counter.start()
    await pool.send(_message(2), "a@example.com", ["b@example.com"])
    await pool.close()
    assert len(counter.envelopes) == 2 and counter.sessions == 2
