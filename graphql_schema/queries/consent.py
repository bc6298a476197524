"""recipientConsent."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.consent import RecipientConsent
from plugin.errors import NotImplementedYetError

__all__ = ["ConsentQueries"]


@strawberry.type
class ConsentQueries:
    @strawberry.field
    async def recipient_consent(self, info: Info, email: str) -> RecipientConsent:
        require_user(info)
        raise NotImplementedYetError("consent is not implemented yet")
