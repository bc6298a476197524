"""connectMailbox: verify and connect the caller's own mailbox."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user, settings_of
from graphql_schema.errors import user_errors_or
from graphql_schema.types.mailbox import ConnectMailboxInput, ConnectMailboxPayload, Mailbox
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

        async def connect() -> ConnectMailboxPayload:
            mailbox = await connect_mailbox(user, input.to_request(), settings_of(info))
            return ConnectMailboxPayload(mailbox=Mailbox.from_model(mailbox), errors=[])

        return await user_errors_or(connect(), ConnectMailboxPayload.refused)
