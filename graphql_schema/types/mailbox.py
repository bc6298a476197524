"""The user's own mailbox (Personal preferences > Email sync): never its credentials."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_schema.types.common import UserError
from plugin.mailboxes.models import Mailbox as MailboxModel
from plugin.mailboxes.service import MailboxRequest

__all__ = ["ConnectMailboxInput", "ConnectMailboxPayload", "Mailbox"]


@strawberry.type(
    description="The mailbox the user's tracked mail leaves from (its Sent folder gets a "
    "clean copy). Credentials are stored encrypted and never returned."
)
class Mailbox:
    address: str
    smtp_host: str = strawberry.field(description="The SMTP server, host:port.")
    imap_host: str | None = strawberry.field(
        description="The IMAP server, host:port; null: no Sent copy is filed."
    )
    sent_folder: str | None
    verified_at: datetime

    @classmethod
    def from_model(cls, mailbox: MailboxModel) -> Mailbox:
        return cls(
            address=mailbox.address, smtp_host=mailbox.smtp_host, imap_host=mailbox.imap_host,
            sent_folder=mailbox.sent_folder, verified_at=mailbox.verified_at,
        )


@strawberry.input
class ConnectMailboxInput:
    smtp_url: str = strawberry.field(
        description="smtp+starttls://, smtps:// (or smtp:// for a relay on the loopback "
        "address) with user:password@host:port, percent-encoded."
    )
    imap_url: str | None = strawberry.field(
        default=None, description="imaps:// (or imap:// on the loopback address) with "
        "user:password@host:port; without it no Sent copy is filed."
    )
    sent_folder: str | None = strawberry.field(
        default=None, description="Default: the folder flagged \\Sent (special-use)."
    )
    address: str | None = strawberry.field(
        default=None, description="The From address; default: the user's own."
    )

    def to_request(self) -> MailboxRequest:
        return MailboxRequest(
            smtp_url=self.smtp_url, imap_url=self.imap_url, sent_folder=self.sent_folder,
            address=self.address,
        )


@strawberry.type
class ConnectMailboxPayload:
    mailbox: Mailbox | None
    errors: list[UserError]

    @classmethod
    def refused(cls, errors: list[UserError]) -> ConnectMailboxPayload:
        return cls(mailbox=None, errors=errors)
