"""The MIME message of one copy: multipart/alternative, UTF-8, 7-bit clean.

Both parts use quoted-printable, so every line stays within RFC 5322's limits
however long the author's lines and our tracked URLs are, and the message
passes servers without 8BITMIME. There is never a Bcc header: blind copies
exist only in the SMTP envelope.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["build_message", "new_message_id"]


def new_message_id(domain: str) -> str:
    """A fresh ``<random@domain>`` Message-ID (128 random bits)."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def _address(addr: str, name: str | None = None) -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


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
    msg["To"] = [_address(a) for a in to]
    if cc:
        msg["Cc"] = [_address(a) for a in cc]
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
