"""What sending needs of a user's mailbox: its address, servers and Sent folder, decrypted."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.mailboxes.crypto import CredentialsUnreadable, decrypt
from plugin.mailboxes.repository import mailbox_of
from plugin.mailboxes.urls import ServerUrl, parse_imap_url, parse_smtp_url
from plugin.settings import Settings

__all__ = ["CredentialsUnreadable", "UserMailbox", "user_mailbox"]


@dataclass(frozen=True)
class UserMailbox:
    address: str
    smtp: ServerUrl
    imap: ServerUrl | None
    sent_folder: str | None

    def __repr__(self) -> str:  # never the credentials
        return f"UserMailbox({self.address!r}, smtp={self.smtp!r}, imap={self.imap!r})"


async def user_mailbox(user_id: int, settings: Settings) -> UserMailbox | None:
    """The user's mailbox, or None. Raises CredentialsUnreadable after a key was dropped."""
    mailbox = await mailbox_of(user_id)
    if mailbox is None:
        return None
    keys = settings.secret_keys
    smtp = parse_smtp_url(decrypt(mailbox.smtp_url_secret, keys))
    imap = (parse_imap_url(decrypt(mailbox.imap_url_secret, keys))
            if mailbox.imap_url_secret else None)
    return UserMailbox(
        address=mailbox.address, smtp=smtp, imap=imap, sent_folder=mailbox.sent_folder
    )
