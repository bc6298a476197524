"""IMAP, through the standard library's imaplib run in a thread.

imaplib covers the three commands needed (LOGIN, LIST, APPEND), ships with
Python and is maintained with it; the calls are few and short, so a thread per
call costs nothing worth an extra async dependency.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from plugin.errors import ErrorCode, MailboxError
from plugin.mailboxes.urls import ServerUrl

__all__ = ["append_to_folder", "check_login", "find_sent_folder"]

IMAP_TIMEOUT_SECONDS = 20.0
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


@contextmanager
def _session(server: ServerUrl) -> Iterator[imaplib.IMAP4]:
    """A logged-in session; failures become MailboxErrors with the stable codes."""
    context = ssl.create_default_context()
    field = "imapUrl"
    try:
        if server.implicit_tls:
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                server.host, server.port, ssl_context=context, timeout=IMAP_TIMEOUT_SECONDS
            )
        else:
            client = imaplib.IMAP4(server.host, server.port, timeout=IMAP_TIMEOUT_SECONDS)
    except ssl.SSLError as error:
        raise MailboxError(
            ErrorCode.MAILBOX_TLS_FAILED, f"IMAP TLS failed: {error}", field=field
        ) from None
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(
            ErrorCode.MAILBOX_UNREACHABLE, f"IMAP server {server.display} unreachable: {error}",
            field=field,
        ) from None
    try:
        if server.starttls:
            try:
                client.starttls(ssl_context=context)
            except (ssl.SSLError, imaplib.IMAP4.error) as error:
                raise MailboxError(
                    ErrorCode.MAILBOX_TLS_FAILED, f"IMAP STARTTLS failed: {error}", field=field
                ) from None
        try:
            client.login(server.username, server.password)
        except imaplib.IMAP4.abort as error:
            raise MailboxError(
                ErrorCode.MAILBOX_UNREACHABLE, f"IMAP server closed the connection: {error}",
                field=field,
            ) from None
        except imaplib.IMAP4.error:
            raise MailboxError(
                ErrorCode.MAILBOX_AUTH_FAILED,
                f"the IMAP server {server.display} refused the user name or password",
                field=field,
            ) from None
        yield client
    except OSError as error:  # dropped mid-session
        raise MailboxError(
            ErrorCode.MAILBOX_UNREACHABLE, f"IMAP connection to {server.display} failed: {error}",
            field=field,
        ) from None
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def _folders(client: imaplib.IMAP4, pattern: str) -> list[tuple[str, set[str]]]:
    status, lines = client.list('""', pattern)
    if status != "OK":
        return []
    folders: list[tuple[str, set[str]]] = []
    for line in lines:
        if isinstance(line, tuple):  # a name sent as a literal: (b'(flags) "/" {n}', b'name')
            head, literal = line[0], line[1]
            match = _LIST_LINE.match(head)
            name = literal.decode("utf-8", "replace")
        elif isinstance(line, bytes):
            match = _LIST_LINE.match(line)
            name = _unquote(match.group("name")) if match else ""
        else:
            continue
        if match:
            folders.append((name, {flag.lower() for flag in match.group("flags").decode().split()}))
    return folders


def _find_sent(server: ServerUrl, wanted: str | None) -> str:
    with _session(server) as client:
        if wanted:
            if any(name == wanted for name, _ in _folders(client, _quote(wanted))):
                return wanted
            raise MailboxError(
                ErrorCode.MAILBOX_NO_SENT_FOLDER, f"the mailbox has no folder named {wanted!r}",
                field="sentFolder",
            )
        for name, flags in _folders(client, '"*"'):
            if "\\sent" in flags:
                return name
        raise MailboxError(
            ErrorCode.MAILBOX_NO_SENT_FOLDER,
            "no folder of the mailbox is marked as the Sent folder (special-use \\Sent): "
            "name it in sentFolder",
            field="sentFolder",
        )


def _append(server: ServerUrl, folder: str, message: bytes) -> None:
    with _session(server) as client:
        status, answer = client.append(
            _quote(folder), r"(\Seen)", imaplib.Time2Internaldate(time.time()), message
        )
        if status != "OK":
            raise MailboxError(ErrorCode.MAILBOX_NO_SENT_FOLDER, f"APPEND refused: {answer!r}")


async def check_login(server: ServerUrl) -> None:
    def login() -> None:
        with _session(server):
            pass

    await asyncio.to_thread(login)


async def find_sent_folder(server: ServerUrl, wanted: str | None) -> str:
    """Log in and return the Sent folder: ``wanted`` if it exists, else the one flagged \\Sent."""
    return await asyncio.to_thread(_find_sent, server, wanted)


async def append_to_folder(server: ServerUrl, folder: str, message: bytes) -> None:
    """Append ``message`` to ``folder``, flagged \\Seen."""
    await asyncio.to_thread(_append, server, folder, message)
