"""A message flattened for SMTP ahead of time, where it was built (a CPU-pool process).

Flattening a MIME message to bytes is pure Python (about half a millisecond a
copy), and so is unpickling an ``EmailMessage`` that a pool process built
(more again): done per copy on the worker's event loop, both stood between the
SMTP pool's connections and their next message. A copy built in the pool
process is flattened there and crosses as bytes; the event loop only writes
them (``plugin.sending.smtp_pipeline``).

The bytes are what aiosmtplib's ``send_message`` would write for the copy's
envelope: SMTPUTF8 headers when an envelope address is not ASCII, else ASCII
ones, with a 7-bit body (valid whether or not the server offers 8BITMIME; the
copies are quoted-printable anyway, so the bytes are the same either way).
"""

from __future__ import annotations

import email.message
from collections.abc import Sequence
from dataclasses import dataclass

from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import normalize_message_line_endings

__all__ = ["Flat", "flatten_for", "needs_smtputf8"]


@dataclass(frozen=True)
class Flat:
    """A message's bytes as they go after DATA (CRLF line endings, not yet dot-stuffed)."""

    data: bytes
    smtputf8: bool  # flattened for an envelope that needs SMTPUTF8
    message_id: str


def needs_smtputf8(sender: str, recipients: Sequence[str]) -> bool:
    """Whether the envelope has a non-ASCII address (aiosmtplib's rule for SMTPUTF8)."""
    try:
        sender.encode("ascii")
        "".join(recipients).encode("ascii")
    except UnicodeEncodeError:
        return True
    return False


def flatten_for(
    message: email.message.EmailMessage, sender: str, recipients: Sequence[str]
) -> Flat:
    """``message`` flattened for the envelope ``sender`` -> ``recipients``."""
    smtputf8 = needs_smtputf8(sender, recipients)
    data = normalize_message_line_endings(
        flatten_message(message, utf8=smtputf8, cte_type="7bit")
    )
    return Flat(data=data, smtputf8=smtputf8, message_id=str(message["Message-ID"] or ""))
