"""connectMailbox: verify and connect the caller's own mailbox."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user, settings_of
from graphql_schema.types.common import UserError
from graphql_schema.types.mailbox import ConnectMailboxInput, ConnectMailboxPayload, Mailbox
from plugin.errors import MailboxError, ValidationError
from plugin.mailboxes.service import connect_mailbox

__all__ = ["ConnectMailbox"]


@strawberry.type
class ConnectMailbox:
    @strawberry.mutation(
        description="Verify and connect the caller's own mailbox (SMTP AUTH, IMAP LOGIN and "
        "the Sent folder); nothing is stored unless it verifies. Replaces an earlier one."
    )
    async def connect_mailbox(
        self, info: Info, input: ConnectMailboxInput
    ) -> ConnectMailboxPayload:
        user = require_user(info)
        try:
            mailbox = await connect_mailbox(user, input.to_request(), settings_of(info))
        except (ValidationError, MailboxError) as error:
            return ConnectMailboxPayload(mailbox=None, errors=[UserError.from_error(error)])
        return ConnectMailboxPayload(mailbox=Mailbox.from_model(mailbox), errors=[])
