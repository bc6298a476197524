"""Handing a built message to the mail system: SMTP, or the outbox folder.

``MAILBEACON_SMTP_URL`` chooses the transport: ``smtp://`` (plain),
``smtp+starttls://`` (STARTTLS required), ``smtps://`` (implicit TLS), with
optional ``user:password@`` (percent-encoded). Without it, messages are written
to ``DATA_DIR/outbox/<message-id>.eml`` (the embedded default; atomically, so a
reader never sees half a file).

SMTP connections are reused across messages (``plugin.sending.smtp_pool``).

Failures are classified: ``TemporaryDeliveryError`` (4xx replies, refused or
dropped connections, timeouts: try again later) or ``PermanentDeliveryError``
(5xx: the server will never take it).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from plugin.private_files import private_dir
from plugin.sending.smtp_pipeline import Outcome
from plugin.sending.smtp_pool import pool_for
from plugin.sending.wire import Flat
from plugin.settings import Settings

__all__ = [
    "DeliveryError",
    "DeliveryResult",
    "PermanentDeliveryError",
    "TemporaryDeliveryError",
    "deliver",
    "deliver_many",
    "outbox_dir",
]

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 60.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]")


class DeliveryError(Exception):
    """The message was not accepted; ``reason`` is what the server (or network) said."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later."""


class PermanentDeliveryError(DeliveryError):
    """Never worth retrying."""


@dataclass(frozen=True)
class DeliveryResult:
    """Accepted; ``refused`` lists recipients the server refused while taking the rest."""

    refused: dict[str, str]


def outbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


async def deliver(
    message: EmailMessage | Flat, *, sender: str, recipients: Sequence[str], settings: Settings,
    through: tuple[str, dict[str, object]] | None = None,
) -> DeliveryResult:
    """Deliver ``message`` to ``recipients`` with envelope sender ``sender``.

    ``through`` (a pool key holding the server and its credentials, and the
    aiosmtplib options) sends through a user's own mailbox instead of the
    server-wide transport.
    """
    if through is not None:
        return await _send_smtp(message, sender, recipients, settings, through)
    if settings.smtp_url is None:
        _write_outbox(message, sender, recipients, outbox_dir(settings))
        return DeliveryResult(refused={})
    url = settings.smtp_url
    return await _send_smtp(message, sender, recipients, settings, (url, _connection(url)))


def _write_outbox(
    message: EmailMessage | Flat, sender: str, recipients: Sequence[str], folder: Path
) -> Path:
    private_dir(folder.parent, folder)
    message_id = message.message_id if isinstance(message, Flat) else str(message["Message-ID"])
    name = _SAFE_NAME.sub("_", message_id.strip("<> ")) or "message"
    target = folder / f"{name}.eml"
    # The envelope is not in the headers (bcc!), so it goes first as Return-Path/X- lines
    # that a local reader can use; the rest is the message exactly as it would go out.
    envelope = f"X-Envelope-From: <{sender}>\r\n" + "".join(
        f"X-Envelope-To: <{r}>\r\n" for r in recipients
    )
    body = message.data if isinstance(message, Flat) else message.as_bytes()
    data = envelope.encode("utf-8") + body
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _connection(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    scheme = parts.scheme
    options: dict[str, object] = {
        "hostname": parts.hostname or "localhost",
        "port": parts.port or {"smtps": 465, "smtp+starttls": 587}.get(scheme, 25),
        "use_tls": scheme == "smtps",
        # Plain smtp:// means plain: aiosmtplib would otherwise upgrade opportunistically.
        "start_tls": scheme == "smtp+starttls",
        "timeout": SMTP_TIMEOUT_SECONDS,
    }
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return options


def _reason(code: int | None, message: str) -> str:
    return f"{code} {message}".strip() if code else message


async def deliver_many(
    messages: Sequence[tuple[EmailMessage | Flat, Sequence[str]]], *, sender: str,
    settings: Settings, through: tuple[str, dict[str, object]] | None = None,
) -> list[DeliveryResult | DeliveryError]:
    """``deliver`` for several messages of one sender (each with its recipients), sent
    together over the pool's connections; for each, in order, its result or its error."""
    if through is None and settings.smtp_url is None:
        for message, recipients in messages:
            _write_outbox(message, sender, recipients, outbox_dir(settings))
        return [DeliveryResult(refused={}) for _ in messages]
    if through is None:
        assert settings.smtp_url is not None
        through = (settings.smtp_url, _connection(settings.smtp_url))
    key, options = through
    pool = pool_for(key, options, settings.smtp_pool_size)
    outcomes = await pool.send_many([(m, sender, recipients) for m, recipients in messages])
    return [_result(outcome) for outcome in outcomes]


async def _send_smtp(
    message: EmailMessage | Flat, sender: str, recipients: Sequence[str], settings: Settings,
    server: tuple[str, dict[str, object]],
) -> DeliveryResult:
    key, options = server
    pool = pool_for(key, options, settings.smtp_pool_size)
    (outcome,) = await pool.send_many([(message, sender, recipients)])
    result = _result(outcome)
    if isinstance(result, DeliveryError):
        raise result
    return result


def _result(outcome: Outcome) -> DeliveryResult | DeliveryError:
    """What the pool said about one message, as a result or a classified error."""
    if not isinstance(outcome, BaseException):
        return DeliveryResult(
            refused={addr: _reason(resp.code, resp.message) for addr, resp in outcome.items()}
        )
    error = outcome
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        reasons = [_reason(r.code, f"{r.recipient}: {r.message}") for r in error.recipients]
        permanent = all(500 <= r.code < 600 for r in error.recipients)
        cls = PermanentDeliveryError if permanent else TemporaryDeliveryError
        return cls("; ".join(reasons) or "every recipient was refused")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        cls = PermanentDeliveryError if 500 <= error.code < 600 else TemporaryDeliveryError
        return cls(_reason(error.code, error.message))
    if isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError):
        # Connection refused or dropped, TLS failures, timeouts: the server may be back later.
        return TemporaryDeliveryError(f"{type(error).__name__}: {error}")
    # Anything else (an address unfit for a command line: ValueError) is our fault, as when
    # the send itself raises it (plugin.sending.send_job): the copy fails, with the cause.
    log.error("sending failed unexpectedly: %s", type(error).__name__, exc_info=error)
    return PermanentDeliveryError(f"internal error: {type(error).__name__}")
