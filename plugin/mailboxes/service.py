"""Connecting and disconnecting the caller's own mailbox (its queries: ``repository``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from plugin.accounts.models import User
from plugin.errors import ValidationError
from plugin.mailboxes import repository
from plugin.mailboxes.crypto import encrypt
from plugin.mailboxes.imap import find_sent_folder
from plugin.mailboxes.models import Mailbox
from plugin.mailboxes.smtp_check import check_smtp
from plugin.mailboxes.urls import parse_imap_url, parse_smtp_url
from plugin.sending.validation import check_address
from plugin.settings import Settings

__all__ = ["MailboxRequest", "connect_mailbox", "disconnect_mailbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailboxRequest:
    smtp_url: str
    imap_url: str | None = None
    sent_folder: str | None = None
    address: str | None = None

    def __repr__(self) -> str:  # the URLs carry passwords
        return f"MailboxRequest(address={self.address!r}, sent_folder={self.sent_folder!r})"


async def connect_mailbox(user: User, request: MailboxRequest, settings: Settings) -> Mailbox:
    """Verify the servers, then store the mailbox (replacing the user's earlier one).

    Raises ValidationError for bad input and MailboxError (its code says how)
    when a server cannot be used; nothing is stored then.
    """
    smtp = parse_smtp_url(request.smtp_url)
    imap = parse_imap_url(request.imap_url) if request.imap_url else None
    wanted_folder = (request.sent_folder or "").strip() or None
    if wanted_folder and imap is None:
        raise ValidationError("a Sent folder needs an imapUrl", field="sentFolder")
    address = check_address(request.address or user.email, field="address").envelope
    await check_smtp(smtp)
    sent_folder = await find_sent_folder(imap, wanted_folder) if imap is not None else None
    mailbox = await repository.replace_mailbox(
        user.id, address=address, smtp_host=smtp.display,
        imap_host=imap.display if imap else None, sent_folder=sent_folder,
        smtp_url_secret=encrypt(smtp.url, settings.secret_keys),
        imap_url_secret=encrypt(imap.url, settings.secret_keys) if imap else None,
        verified_at=datetime.now(UTC),
    )
    log.info("user %s connected a mailbox (SMTP %s, IMAP %s)", user.id, smtp.display,
             imap.display if imap else "none")
    return mailbox


async def disconnect_mailbox(user: User) -> bool:
    """Forget the user's mailbox (its credentials with it); True when there was one."""
    removed = await repository.delete_mailbox(user.id)
    if removed:
        log.info("user %s disconnected their mailbox", user.id)
    return bool(removed)
