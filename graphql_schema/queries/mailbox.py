"""mailbox: the caller's own, or null."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.mailbox import Mailbox
from plugin.mailboxes.repository import mailbox_of

__all__ = ["MailboxQueries"]


@strawberry.type
class MailboxQueries:
    @strawberry.field(description="The caller's connected mailbox, or null.")
    async def mailbox(self, info: Info) -> Mailbox | None:
        found = await mailbox_of(require_user(info).id)
        return Mailbox.from_model(found) if found else None
