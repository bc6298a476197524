"""The MIME message of one copy: multipart/alternative, UTF-8, 7-bit clean.

Both parts use quoted-printable, so every line stays within RFC 5322's limits
however long the author's lines and our tracked URLs are, and the message
passes servers without 8BITMIME. There is never a Bcc header: blind copies
exist only in the SMTP envelope.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["build_message", "build_messages", "new_message_id"]


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


def build_messages(
    *,
    sender_name: str | None,
    sender_address: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    bodies: list[tuple[str | None, str | None, str]],
) -> list[EmailMessage]:
    """``build_message`` for several copies of one email ((text, html, Message-ID) each)."""
    return [
        build_message(sender_name=sender_name, sender_address=sender_address, to=to, cc=cc,
                      subject=subject, text=text, html=html, message_id=message_id)
        for text, html, message_id in bodies
    ]
