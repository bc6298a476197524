"""disconnectMailbox: the caller's own mailbox only."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from plugin.mailboxes.service import disconnect_mailbox

__all__ = ["DisconnectMailbox"]


@strawberry.type
class DisconnectMailbox:
    @strawberry.mutation(
        description="Forget the caller's mailbox and its credentials; true when one was removed."
    )
    async def disconnect_mailbox(self, info: Info) -> bool:
        return await disconnect_mailbox(require_user(info))
