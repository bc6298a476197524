"""recordConsent, requestTrackingConsent, eraseRecipientData."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.consent import ErasureResult, RecipientConsent
from graphql_schema.types.enums import ConsentStatus
from plugin.errors import NotImplementedYetError

__all__ = ["ConsentMutations"]


@strawberry.type
class ConsentMutations:
    @strawberry.mutation
    async def record_consent(
        self, info: Info, email: str, status: ConsentStatus, source: str
    ) -> RecipientConsent:
        require_user(info)
        raise NotImplementedYetError("consent is not implemented yet")

    @strawberry.mutation
    async def request_tracking_consent(self, info: Info, email: str) -> RecipientConsent:
        require_user(info)
        raise NotImplementedYetError("consent is not implemented yet")

    @strawberry.mutation
    async def erase_recipient_data(self, info: Info, email: str) -> ErasureResult:
        require_user(info)
        raise NotImplementedYetError("consent is not implemented yet")
