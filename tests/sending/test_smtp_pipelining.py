"""ESMTP PIPELINING on the pool's connections, against a real aiosmtpd server.

aiosmtpd reads commands in order from its stream, so it handles pipelined commands;
it does not advertise PIPELINING, so the handler adds it to its EHLO reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from plugin.sending import smtp_pipeline
from plugin.sending.smtp_pool import SmtpPool
from plugin.sending.wire import flatten_for
from tests.conftest import free_port
from tests.sending.test_smtp_pool import SessionCounter

SENDER = "a@example.com"


class Scripted(SessionCounter):
    """``close_at_rcpt``: addresses whose RCPT drops the connection (each once);
    ``close_at_data``: subjects whose content is taken, then the connection dropped."""

    def __init__(self, pipelining: bool) -> None:
        super().__init__(pipelining=pipelining)
        self.close_at_rcpt: set[str] = set()
        self.close_at_data: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.close_at_rcpt:
            self.close_at_rcpt.discard(address)
            server.transport.close()
            return "421 4.3.2 going away"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        subject = _subject(envelope)
        if subject in self.close_at_data:
            self.close_at_data.discard(subject)
            server.transport.close()
            return "421 4.3.2 going away"
        return await super().handle_DATA(server, session, envelope)


def _subject(envelope: Any) -> str:
    for line in envelope.content.decode().splitlines():
        if line.startswith("Subject: "):
            return line.removeprefix("Subject: ")
    return ""


@pytest.fixture
def server() -> Iterator[Scripted]:
    recorder = Scripted(pipelining=True)
    recorder.port = free_port()
    recorder.start()
    yield recorder
    recorder.stop()


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many replies each pipelined write waited for."""
    seen: list[int] = []
    exchange = smtp_pipeline.PipeliningProtocol.exchange

    async def counting(self: Any, data: bytes, wanted: int, timeout: float | None) -> Any:
        seen.append(wanted)
        return await exchange(self, data, wanted, timeout)

    monkeypatch.setattr(smtp_pipeline.PipeliningProtocol, "exchange", counting)
    return seen


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, "b@example.com", subject
    message.set_content(f"message {subject}\n.a line starting with a dot\n")
    return message


def _pool(server: SessionCounter, size: int = 1) -> SmtpPool:
    return SmtpPool({"hostname": "127.0.0.1", "port": server.port, "start_tls": False,
                     "timeout": 10}, size)


def _subjects(server: SessionCounter) -> list[str]:
    return [_subject(e) for e in server.envelopes]


async def test_messages_go_pipelined_one_round_trip_each(
    server: Scripted, exchanges: list[int]
) -> None:
    pool = _pool(server)
    batch = [(_message(f"m{i}"), SENDER, [f"r{i}@example.com", f"s{i}@example.com"])
             for i in range(5)]
    assert await pool.send_many(batch) == [{}] * 5
    await pool.close()
    # Envelope of the first; then the content of one with the envelope of the next; the
    # last content alone.
    assert exchanges == [4, 5, 5, 5, 5, 1]
    assert server.sessions == 1
    assert [e.rcpt_tos for e in server.envelopes] == [[f"r{i}@example.com", f"s{i}@example.com"]
                                                      for i in range(5)]
    # Dot-stuffed on the wire, so the line arrives whole (not taken for the end of data).
    assert all(b"\r\n.a line starting with a dot\r\n" in e.original_content
               for e in server.envelopes)
    assert _subjects(server) == [f"m{i}" for i in range(5)]


async def test_without_pipelining_advertised_commands_go_one_by_one(
    server: Scripted, exchanges: list[int]
) -> None:
    server.pipelining = False
    pool = _pool(server)
    batch = [(_message(f"m{i}"), SENDER, ["r@example.com"]) for i in range(3)]
    assert await pool.send_many(batch) == [{}] * 3
    await pool.close()
    assert exchanges == [] and server.sessions == 1 and _subjects(server) == ["m0", "m1", "m2"]


async def test_a_refused_recipient_mid_pipeline(server: Scripted) -> None:
    server.refuse = {"no@example.com": "550 5.1.1 no such user",
                     "later@example.com": "450 4.2.1 try later"}
    pool = _pool(server)
    outcomes = await pool.send_many([
        (_message("some"), SENDER, ["r@example.com", "no@example.com", "s@example.com"]),
        (_message("none"), SENDER, ["no@example.com", "later@example.com"]),
        (_message("after"), SENDER, ["t@example.com"]),
    ])
    await pool.close()
    some, none, after = outcomes
    assert isinstance(some, dict) and list(some) == ["no@example.com"] and some[
        "no@example.com"].code == 550
    assert isinstance(none, aiosmtplib.SMTPRecipientsRefused)
    assert [(r.recipient, r.code) for r in none.recipients] == [
        ("no@example.com", 550), ("later@example.com", 450)]
    assert after == {}
    # The refused envelope was reset and the session went on.
    assert server.sessions == 1
    assert [e.rcpt_tos for e in server.envelopes] == [["r@example.com", "s@example.com"],
                                                      ["t@example.com"]]


async def test_a_refused_content_and_a_421_mid_pipeline(server: Scripted) -> None:
    pool = _pool(server)
    server.replies.append("451 4.3.0 later")  # the first content
    first, second = await pool.send_many([(_message("m0"), SENDER, ["r@example.com"]),
                                          (_message("m1"), SENDER, ["r@example.com"])])
    assert isinstance(first, aiosmtplib.SMTPDataError) and first.code == 451
    assert second == {} and server.sessions == 1
    server.close_next_mail = True  # MAIL answered 421: that session is not used again
    third, fourth = await pool.send_many([(_message("m2"), SENDER, ["r@example.com"]),
                                          (_message("m3"), SENDER, ["r@example.com"])])
    await pool.close()
    assert isinstance(third, aiosmtplib.SMTPSenderRefused) and third.code == 421
    assert fourth == {} and server.sessions == 2
    assert _subjects(server) == ["m1", "m3"]


async def test_server_closing_before_the_content_the_message_goes_on_a_new_session(
    server: Scripted,
) -> None:
    server.close_at_rcpt = {"r1@example.com"}
    pool = _pool(server)
    outcomes = await pool.send_many(
        [(_message(f"m{i}"), SENDER, [f"r{i}@example.com"]) for i in range(3)]
    )
    await pool.close()
    # m1's content never went out: sent again (once) on a new session; nothing twice.
    assert outcomes == [{}] * 3
    assert sorted(_subjects(server)) == ["m0", "m1", "m2"] and server.sessions == 2


async def test_server_closing_after_the_content_fails_that_message_only(server: Scripted) -> None:
    server.close_at_data = {"m1"}
    pool = _pool(server)
    outcomes = await pool.send_many(
        [(_message(f"m{i}"), SENDER, [f"r{i}@example.com"]) for i in range(3)]
    )
    await pool.close()
    # m1's content went out and its reply never came: a temporary failure (the caller's
    # retry rules decide), never resent here. m2's envelope rode along with m1's content:
    # it had not gone out, so it goes on a new session.
    assert outcomes[0] == {} and outcomes[2] == {}
    assert isinstance(outcomes[1], aiosmtplib.SMTPServerDisconnected)
    assert sorted(_subjects(server)) == ["m0", "m2"] and server.sessions == 2


async def test_unreachable_server_fails_every_message(server: Scripted) -> None:
    server.stop()
    try:
        pool = _pool(server, size=2)
        outcomes = await pool.send_many(
            [(_message(f"m{i}"), SENDER, ["r@example.com"]) for i in range(5)]
        )
    finally:
        server.start()
    assert all(isinstance(o, aiosmtplib.SMTPConnectError) for o in outcomes)


async def test_unpooled_sends_one_message_per_session_pipelined(
    server: Scripted, exchanges: list[int]
) -> None:
    pool = _pool(server, size=0)
    outcomes = await pool.send_many(
        [(_message(f"m{i}"), SENDER, ["r@example.com"]) for i in range(6)]
    )
    assert outcomes == [{}] * 6 and server.sessions == 6
    assert sorted(exchanges) == [1] * 6 + [3] * 6  # one envelope, one content per session


async def test_callers_at_once_share_the_connections_and_each_gets_its_outcomes(
    server: Scripted, exchanges: list[int]
) -> None:
    server.refuse = {"no@example.com": "550 5.1.1 no such user"}
    pool = _pool(server, size=2)
    batches = [[(_message(f"c{c}m{i}"), SENDER,
                 ["no@example.com" if (c, i) == (1, 2) else f"c{c}r{i}@example.com"])
                for i in range(4)] for c in range(3)]
    results = await asyncio.gather(*(pool.send_many(batch) for batch in batches))
    await pool.close()
    for c, outcomes in enumerate(results):
        for i, outcome in enumerate(outcomes):
            if (c, i) == (1, 2):
                assert isinstance(outcome, aiosmtplib.SMTPRecipientsRefused)
            else:
                assert outcome == {}
    assert server.sessions <= 2
    assert sorted(e.rcpt_tos[0] for e in server.envelopes) == sorted(
        f"c{c}r{i}@example.com" for c in range(3) for i in range(4) if (c, i) != (1, 2))


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "plain"])
async def test_a_copy_flattened_ahead_arrives_as_the_message_itself(
    server: Scripted, pipelining: bool
) -> None:
    server.pipelining = pipelining
    pool = _pool(server)
    message = _message("flat")
    flat = flatten_for(message, SENDER, ["r@example.com"])
    assert await pool.send_many([(message, SENDER, ["r@example.com"]),
                                 (flat, SENDER, ["r@example.com"])]) == [{}, {}]
    await pool.close()
    whole, ahead = server.envelopes
    assert ahead.original_content == whole.original_content
    assert ahead.mail_options == whole.mail_options and ahead.rcpt_tos == ["r@example.com"]
