"""ESMTP PIPELINING (RFC 2920) on top of an aiosmtplib client.

Without it, every message costs four round trips to the server, even on a
reused connection: MAIL, RCPT, DATA, then the content. When the server
advertises PIPELINING, the envelope (MAIL, every RCPT, DATA) goes in one write
and its replies are read in order; and when another message waits for the same
connection, its envelope goes in the same write as the previous message's
content ("the actual transfer of message content is explicitly allowed to be
the first command in a group", RFC 2920 3.1). A connection then spends one
round trip per message.

Replies are matched to commands in order, and each message's outcome is what
aiosmtplib's ``sendmail`` decides one command at a time:

- MAIL refused: ``SMTPSenderRefused``; every RCPT refused:
  ``SMTPRecipientsRefused``; DATA not answered 354, or the content not 250:
  ``SMTPDataError``; some recipients refused: the others get it, and the
  refused ones are returned;
- after a refused envelope the client sends RSET, alone, before the next
  message (and, if a broken server accepted DATA anyway, first a lone ".");
- a 421 reply, a failed RSET, a timeout or a dropped connection end the
  connection (the caller does not reuse it).

The content is written only after the server answered DATA with 354, so a
message whose envelope replies never came (the connection dropped) was not
delivered: it is handed back to be sent on another connection, once. One whose
content went out but whose reply never came may or may not have arrived: it
fails as a temporary error, as without pipelining (plugin.sending.send_job).

aiosmtplib's protocol reads one reply per command and drops what arrives while a
parsed reply waits to be picked up, so pipelined replies would be lost. The
connections this module uses get ``PipeliningProtocol`` (a subclass that
collects a given number of replies in order) swapped in; commands sent the
usual way (EHLO, RSET, NOOP, QUIT) behave exactly as before.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiosmtplib import (
    SMTP,
    SMTPDataError,
    SMTPException,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)
from aiosmtplib.email import flatten_message, quote_address
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    SMTPProtocol,
    normalize_message_line_endings,
)

from plugin.sending.wire import Flat, needs_smtputf8

__all__ = [
    "Envelope",
    "Outcome",
    "PipeliningProtocol",
    "prepare",
    "send_chain",
    "send_one",
    "use_pipelining",
]

# The refused recipients (delivered to the others), or why the message was not accepted.
Outcome = dict[str, SMTPResponse] | BaseException

# The private members of aiosmtplib's protocol that PipeliningProtocol uses: should a
# release rename them, messages go one command at a time instead of failing.
_KNOWN_PROTOCOL = all(
    hasattr(SMTPProtocol, name) for name in ("_read_response_from_buffer",
                                             "_set_response_exception")
) and {"_buffer", "_response_waiter", "_response_pending", "_command_lock"} <= set(
    SMTPProtocol.__init__.__code__.co_names
)

_ACCEPTED = (250, 251)
_CLOSING = 421


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol, plus ``exchange``: one write, several replies read in order."""

    _wanted = 0  # replies ``exchange`` waits for; 0: aiosmtplib's own one-reply reading
    _replies: list[SMTPResponse]

    def data_received(self, data: bytes) -> None:
        if not self._wanted:
            super().data_received(data)
            return
        waiter = self._response_waiter
        if waiter is None or waiter.done():
            return
        self._buffer.extend(data)
        try:
            while len(self._replies) < self._wanted:
                if len(self._buffer) > MAX_RESPONSE_LENGTH * (self._wanted - len(self._replies)):
                    del self._buffer[:]
                    raise SMTPResponseException(-1, "Response too long")
                reply = self._read_response_from_buffer()
                if reply is None:
                    break
                self._replies.append(reply)
        except Exception as error:  # a malformed reply: the waiting exchange raises it
            self._set_response_exception(waiter, error)
            return
        if len(self._replies) >= self._wanted:
            waiter.set_result(self._replies[-1])

    async def exchange(
        self, data: bytes, wanted: int, timeout: float | None
    ) -> tuple[list[SMTPResponse], BaseException | None]:
        """Write ``data``, read up to ``wanted`` replies; the replies read, and what
        stopped the reading early (a dropped connection, a timeout, a malformed reply)."""
        if self._command_lock is None:
            return [], SMTPServerDisconnected("Server not connected")
        async with self._command_lock:
            self._replies = []
            self._wanted = wanted
            self._response_pending = True
            try:
                self.write(data)
                await self.read_response(timeout=timeout)
            except (SMTPException, OSError) as error:
                return list(self._replies), error
            finally:
                self._wanted = 0
            return list(self._replies), None


async def use_pipelining(client: SMTP) -> bool:
    """Whether messages on this (connected) client can be pipelined; swaps the protocol in."""
    if client.is_ehlo_or_helo_needed:
        # After STARTTLS the client forgets the extensions and says EHLO again only before
        # its next command: ask now, as that command would (HELO if EHLO is refused).
        try:
            await client.ehlo()
        except SMTPHeloError:
            await client.helo()
            return False
    protocol = client.protocol
    if type(protocol) is SMTPProtocol and _KNOWN_PROTOCOL:
        # Same layout, one method more: the transport keeps calling the same object.
        protocol.__class__ = PipeliningProtocol
    return isinstance(protocol, PipeliningProtocol) and client.supports_extension("pipelining")


@dataclass
class Envelope:
    """One message ready for the wire."""

    sender: str
    recipients: list[str]
    commands: bytes  # MAIL FROM, RCPT TO..., DATA
    content: bytes  # the message, dot-stuffed, ending in CRLF.CRLF
    refused: dict[str, SMTPResponse] = field(default_factory=dict)


def prepare(
    client: SMTP, message: email.message.EmailMessage | Flat, sender: str,
    recipients: Sequence[str],
) -> Envelope:
    """The commands and content ``client.send_message`` would send (same MAIL options:
    SMTPUTF8 when an address needs it, BODY=8BITMIME and SIZE when offered); a ``Flat``
    message goes as it was flattened.

    Raises ValueError (an address unfit for a command line, a message flattened for
    another envelope) or SMTPNotSupported."""
    if not recipients:
        raise ValueError("no recipients")
    utf8 = needs_smtputf8(sender, recipients)
    options: list[bytes] = []
    if utf8:
        if not client.supports_extension("smtputf8"):
            raise SMTPNotSupported(
                "An address containing non-ASCII characters was provided, but SMTPUTF8 "
                "is not supported by this server"
            )
        options.append(b"SMTPUTF8")
    eight_bit = client.supports_extension("8BITMIME")
    if eight_bit:
        options.append(b"BODY=8BITMIME")
    flat = _flat(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")
    if client.supports_extension("size"):
        options.insert(0, f"SIZE={len(flat)}".encode("ascii"))
    encoding = "utf-8" if utf8 else "ascii"

    def line(*args: bytes) -> bytes:
        for arg in args:
            if COMMAND_INJECTION_REGEX.search(arg):
                raise ValueError("Command arg contains a prohibited control character")
        return b" ".join(args) + b"\r\n"

    commands = line(b"MAIL", b"FROM:" + quote_address(sender).encode(encoding), *options)
    commands += b"".join(line(b"RCPT", b"TO:" + quote_address(r).encode(encoding))
                         for r in recipients)
    commands += b"DATA\r\n"
    return Envelope(sender, list(recipients), commands, PERIOD_REGEX.sub(b"..", flat) + b".\r\n")


def _flat(message: email.message.EmailMessage | Flat, *, utf8: bool, cte_type: str) -> bytes:
    if isinstance(message, Flat):
        if message.smtputf8 != utf8:
            raise ValueError("the message was flattened for another envelope")
        return message.data
    return normalize_message_line_endings(flatten_message(message, utf8=utf8, cte_type=cte_type))


async def send_one(
    client: SMTP, message: email.message.EmailMessage | Flat, sender: str,
    recipients: Sequence[str],
) -> dict[str, SMTPResponse]:
    """One message, one command at a time (a server without PIPELINING), as
    ``client.send_message`` sends it, on a client past EHLO (``use_pipelining``); the
    refused recipients. aiosmtplib errors pass through."""
    if not isinstance(message, Flat):
        refused, _ = await client.send_message(message, sender=sender,
                                               recipients=list(recipients))
        return refused
    utf8 = needs_smtputf8(sender, recipients)
    options = ["SMTPUTF8"] * utf8 + ["BODY=8BITMIME"] * client.supports_extension("8BITMIME")
    # (sendmail itself refuses SMTPUTF8 to a server without it, and adds SIZE.)
    refused, _ = await client.sendmail(sender, list(recipients),
                                       _flat(message, utf8=utf8, cte_type="7bit"),
                                       mail_options=options)
    return refused


@dataclass
class _Started:
    """A message whose DATA was answered 354: its content goes with the next write."""

    item: Any
    envelope: Envelope


async def send_chain(
    client: SMTP,
    take: Callable[[], tuple[Any, Envelope] | None],
    settle: Callable[[Any, Outcome], None],
    give_back: Callable[[Any], None],
) -> bool:
    """Send the messages ``take`` hands out on ``client``, pipelined, until it has none.

    ``settle(item, outcome)`` is called once per message sent or refused;
    ``give_back(item)`` for one that certainly did not reach the server (its
    content never went out) when the connection failed. Returns whether the
    connection can be used again.
    """
    protocol = client.protocol
    assert isinstance(protocol, PipeliningProtocol)
    timeout = client.timeout
    started: _Started | None = None
    while True:
        taken = take()
        if started is None and taken is None:
            return True
        data = started.envelope.content if started else b""
        wanted = 1 if started else 0
        if taken is not None:
            data += taken[1].commands
            wanted += len(taken[1].recipients) + 2
        replies, error = await protocol.exchange(data, wanted, timeout)
        good = error is None
        if started is not None:
            if replies:
                reply = replies.pop(0)
                if reply.code == 250:
                    settle(started.item, started.envelope.refused)
                else:
                    settle(started.item, SMTPDataError(reply.code, reply.message))
                    good = good and reply.code != _CLOSING
            else:
                # The content went out, its reply never came: it may or may not have arrived.
                settle(started.item, error or SMTPServerDisconnected("Connection lost"))
            started = None
        if taken is None:
            if not good:
                return False
            continue
        item, envelope = taken
        outcome = _envelope_outcome(envelope, replies)
        if outcome is None:
            # Some envelope replies never came: the content was not sent, nothing arrived.
            give_back(item)
            return False
        if not isinstance(outcome, BaseException):
            envelope.refused = outcome
            started = _Started(item, envelope)
            if not good:  # (cannot happen: every reply came) - never leave it unsettled
                settle(item, error or SMTPServerDisconnected("Connection lost"))
                return False
            continue
        settle(item, outcome)
        if not good or any(r.code == _CLOSING for r in replies):
            return False
        if not await _reset(client, protocol, accepted_data=replies[-1].code == 354):
            return False


def _envelope_outcome(envelope: Envelope, replies: list[SMTPResponse]) -> Outcome | None:
    """Refused recipients if the content may go (DATA answered 354), else the refusal;
    None when replies are missing and nothing refused the message."""
    if replies and replies[0].code not in _ACCEPTED:
        mail = replies[0]
        return SMTPSenderRefused(mail.code, mail.message, envelope.sender)
    if len(replies) < len(envelope.recipients) + 2:
        return None
    refused = [
        SMTPRecipientRefused(reply.code, reply.message, address)
        for address, reply in zip(envelope.recipients, replies[1:-1], strict=True)
        if reply.code not in _ACCEPTED
    ]
    if len(refused) == len(envelope.recipients):
        return SMTPRecipientsRefused(refused)
    data = replies[-1]
    if data.code != 354:
        return SMTPDataError(data.code, data.message)
    return {r.recipient: SMTPResponse(r.code, r.message) for r in refused}


async def _reset(client: SMTP, protocol: PipeliningProtocol, *, accepted_data: bool) -> bool:
    """End a refused transaction (RSET, after a lone "." if the server awaits content)."""
    try:
        if accepted_data:
            _, error = await protocol.exchange(b".\r\n", 1, client.timeout)
            if error is not None:
                return False
        await client.rset()
    except (SMTPException, OSError):
        return False
    return True
