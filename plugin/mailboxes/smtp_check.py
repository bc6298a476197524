"""Verifying a mailbox's SMTP server: connect (with its TLS) and AUTH, nothing sent."""

from __future__ import annotations

import ssl

import aiosmtplib

from plugin.errors import ErrorCode, MailboxError
from plugin.mailboxes.urls import ServerUrl

__all__ = ["check_smtp", "smtp_options"]

SMTP_TIMEOUT_SECONDS = 20.0


def smtp_options(server: ServerUrl) -> dict[str, object]:
    """aiosmtplib.SMTP arguments for ``server`` (it logs in when it connects)."""
    return {
        "hostname": server.host, "port": server.port,
        "use_tls": server.implicit_tls,
        # Plain means plain: aiosmtplib would otherwise upgrade opportunistically.
        "start_tls": server.starttls,
        "username": server.username, "password": server.password,
        "timeout": SMTP_TIMEOUT_SECONDS,
    }


def _tls_problem(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "tls" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def check_smtp(server: ServerUrl) -> None:
    client = aiosmtplib.SMTP(**smtp_options(server))  # type: ignore[arg-type]
    field = "smtpUrl"
    try:
        await client.connect()
    except aiosmtplib.SMTPAuthenticationError:
        raise MailboxError(
            ErrorCode.MAILBOX_AUTH_FAILED,
            f"the SMTP server {server.display} refused the user name or password", field=field,
        ) from None
    except aiosmtplib.SMTPException as error:
        if "auth" in str(error).lower():  # no AUTH offered, or no mechanism in common
            raise MailboxError(
                ErrorCode.MAILBOX_AUTH_FAILED, f"SMTP authentication impossible: {error}",
                field=field,
            ) from None
        if _tls_problem(error):
            raise MailboxError(
                ErrorCode.MAILBOX_TLS_FAILED, f"SMTP TLS failed: {error}", field=field
            ) from None
        raise MailboxError(
            ErrorCode.MAILBOX_UNREACHABLE, f"SMTP server {server.display} unreachable: {error}",
            field=field,
        ) from None
    except ssl.SSLError as error:
        raise MailboxError(
            ErrorCode.MAILBOX_TLS_FAILED, f"SMTP TLS failed: {error}", field=field
        ) from None
    except (OSError, TimeoutError) as error:
        raise MailboxError(
            ErrorCode.MAILBOX_UNREACHABLE, f"SMTP server {server.display} unreachable: {error}",
            field=field,
        ) from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
