"""The MIME message of one copy: multipart/alternative, UTF-8, 7-bit clean.

Both parts use quoted-printable, so every line stays within RFC 5322's limits
however long the author's lines and our tracked URLs are, and the message
passes servers without 8BITMIME. There is never a Bcc header: blind copies
exist only in the SMTP envelope.
"""

from __future__ import annotations

import functools
import random
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["MessageTemplate", "build_message", "new_message_id"]


def new_message_id(domain: str) -> str:
    """A fresh ``<random@domain>`` Message-ID (128 random bits)."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def _address(addr: str, name: str | None = None) -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


@functools.lru_cache(maxsize=256)
def _folded_addresses(name: str, addresses: tuple[str, ...]) -> str:
    """The header's value, encoded and folded as policy.SMTP writes it.

    The copies of a per-recipient send all carry the same To and Cc; parsing and
    folding 100 addresses costs more than the rest of the message, so it is done
    once per address list and kept (``set_raw`` writes a folded value as is).
    """
    header = policy.SMTP.header_factory(name, [_address(a) for a in addresses])
    return str(header.fold(policy=policy.SMTP))[len(name) + 2 :].rstrip("\r\n")


def build_message(
    *,
    sender_name: str | None,
    sender_address: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    text: str | None,
    html: str | None,
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """Build the message; a body with both parts is multipart/alternative (text first)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(sender_address, sender_name)
    msg.set_raw("To", _folded_addresses("To", tuple(to)))
    if cc:
        msg.set_raw("Cc", _folded_addresses("Cc", tuple(cc)))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    if text is not None:
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        if html is not None:
            msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    elif html is not None:
        msg.set_content(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


class MessageTemplate:
    """``build_message`` for the copies of one email, which differ only in their bodies and
    Message-ID: the headers (From, To, Subject, Date, the MIME ones) are made once, on a
    template built by ``build_message`` itself, and each copy takes them as they are.

    Making and parsing those headers was most of a copy's MIME cost (about a millisecond
    a copy); a copy is now its template's headers and its quoted-printable bodies, the
    same message ``build_message`` makes (tests/sending/test_mime.py compares the bytes).
    """

    def __init__(
        self,
        *,
        sender_name: str | None,
        sender_address: str,
        to: Sequence[str],
        cc: Sequence[str],
        subject: str,
        date: datetime | None = None,
    ) -> None:
        self._fields = {"sender_name": sender_name, "sender_address": sender_address,
                        "to": to, "cc": cc, "subject": subject,
                        "date": date or datetime.now(UTC)}
        self._templates: dict[tuple[bool, bool], EmailMessage] = {}
        self._skeletons: dict[tuple[bool, bool, bool, int], list[bytes] | None] = {}

    def build(self, *, text: str | None, html: str | None, message_id: str) -> EmailMessage:
        """The message ``build_message`` makes with these bodies and this Message-ID."""
        shape = (text is not None, html is not None)
        template = self._templates.get(shape)
        if template is None:
            template = self._templates[shape] = build_message(
                **self._fields,  # type: ignore[arg-type]
                text="" if shape[0] else None, html="" if shape[1] else None,
                message_id=message_id,
            )
        msg = _headers_of(template, message_id=message_id)
        bodies = [body for body in (text, html) if body is not None]
        if template.is_multipart():
            for part, body in zip(template.iter_parts(), bodies, strict=True):
                copy = _headers_of(part)  # type: ignore[arg-type]
                copy.set_payload(_quoted_printable(body))
                msg.attach(copy)
        elif bodies:
            msg.set_payload(_quoted_printable(bodies[0]))
        return msg


    def wire(
        self, *, text: str | None, html: str | None, message_id: str, smtputf8: bool
    ) -> bytes:
        """``build(...)`` flattened for SMTP (headers for SMTPUTF8 or ASCII, CRLF, a 7-bit
        body): the bytes ``email``'s generator writes for it, its MIME boundary drawn as
        the generator draws one.

        The generator folds every header again and compiles a pattern to check the
        boundary, per message (most of a copy's remaining MIME cost). The copies are cut
        from the flattened skeleton of their shape instead; quoted-printable bodies never
        contain a boundary ("=" is encoded).
        """
        shape = (text is not None, html is not None, smtputf8, len(message_id))
        pieces = None
        if (text is not None or html is not None) and _plain_id(message_id):
            if shape not in self._skeletons:
                self._skeletons[shape] = self._skeleton(*shape)
            pieces = self._skeletons[shape]
        if pieces is None:
            return _flatten(self.build(text=text, html=html, message_id=message_id), smtputf8)
        boundary = _new_boundary().encode("ascii")
        fills = [message_id.encode("ascii")] + [
            _quoted_printable(body).replace("\n", "\r\n").encode("ascii")
            for body in (text, html) if body is not None
        ]
        out = [pieces[0].replace(_BOUNDARY_MARK, boundary)]
        for fill, piece in zip(fills, pieces[1:], strict=True):
            out += [fill, piece.replace(_BOUNDARY_MARK, boundary)]
        return b"".join(out)

    def _skeleton(
        self, text: bool, html: bool, smtputf8: bool, id_length: int
    ) -> list[bytes] | None:
        """The flattened message of this shape cut around its Message-ID and bodies; None
        if a mark is not found exactly once (then copies are flattened whole)."""
        id_mark = "<" + ("MBID" * id_length)[: id_length - 2] + ">"
        message = self.build(text=_TEXT_MARK if text else None,
                             html=_HTML_MARK if html else None, message_id=id_mark)
        if message.is_multipart():
            message.set_boundary(_BOUNDARY_MARK.decode("ascii"))
        rest = _flatten(message, smtputf8)
        marks = [id_mark.encode("ascii")] + [
            _quoted_printable(mark).replace("\n", "\r\n").encode("ascii")
            for mark, present in ((_TEXT_MARK, text), (_HTML_MARK, html)) if present
        ]
        pieces = []
        for mark in marks:
            before, found, rest = rest.partition(mark)
            if not found or mark in rest or mark in before:
                return None
            pieces.append(before)
        return [*pieces, rest]


# What the skeletons carry instead of a copy's own Message-ID, bodies and boundary (the
# boundary as long as the generator's: the header folds the same).
_TEXT_MARK = "MBTEXTMARK"
_HTML_MARK = "MBHTMLMARK"
_BOUNDARY_MARK = ("=" * 15 + "0" * len(repr(sys.maxsize - 1)) + "==").encode("ascii")


def _new_boundary() -> str:
    """A MIME boundary as ``email.generator`` draws one."""
    token = random.randrange(sys.maxsize)  # noqa: S311 - the generator's own way
    return "=" * 15 + f"{token:0{len(repr(sys.maxsize - 1))}d}" + "=="


def _plain_id(message_id: str) -> bool:
    """A Message-ID the generator writes on one line as it is."""
    return (message_id.isascii() and message_id.isprintable() and " " not in message_id
            and 3 <= len(message_id) <= 64)


def _flatten(message: EmailMessage, smtputf8: bool) -> bytes:
    """What aiosmtplib's ``flatten_message`` writes for a message without Bcc."""
    return message.as_bytes(policy=policy.SMTP.clone(utf8=smtputf8, cte_type="7bit"))


def _headers_of(template: EmailMessage, *, message_id: str | None = None) -> EmailMessage:
    """A new message with ``template``'s headers (the same objects: headers are immutable),
    its Message-ID replaced (as is when the generator writes it so anyway, else parsed as
    ``msg["Message-ID"] = ...`` parses it)."""
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in template.raw_items():
        if message_id is not None and name == "Message-ID":
            value = message_id if _plain_id(message_id) else policy.SMTP.header_factory(
                name, message_id)
        msg.set_raw(name, value)
    return msg


def _quoted_printable(body: str) -> str:
    """The payload ``set_content(body, charset="utf-8", cte="quoted-printable")`` stores."""
    lines = body.encode("utf-8").splitlines()
    normal = (b"\n".join(lines) + b"\n").decode("latin-1")
    return quoprimime.body_encode(normal, policy.SMTP.max_line_length or 76)
