"""requestTrackingConsent: mail the recipient a request to allow or decline tracking."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from consent.request import request_tracking_consent
from graphql_schema.context import require_user, settings_of
from graphql_schema.types.consent import RecipientConsent

__all__ = ["RequestTrackingConsent"]


@strawberry.type
class RequestTrackingConsent:
    @strawberry.mutation
    async def request_tracking_consent(self, info: Info, email: str) -> RecipientConsent:
        user = require_user(info)
        state = await request_tracking_consent(email, user, settings_of(info))
        return RecipientConsent.from_state(state)
