"""sendEmail."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.sent_email import SendEmailInput, SendEmailPayload
from plugin.errors import NotImplementedYetError

__all__ = ["SendEmail"]


@strawberry.type
class SendEmail:
    @strawberry.mutation
    async def send_email(self, info: Info, input: SendEmailInput) -> SendEmailPayload:
        require_user(info)
        raise NotImplementedYetError("sending is not implemented yet")
