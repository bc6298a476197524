"""recordConsent, requestTrackingConsent, eraseRecipientData."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from consent.erasure import erase_recipient_data
from consent.request import request_tracking_consent
from consent.service import record_consent
from graphql_schema.context import require_user, settings_of
from graphql_schema.types.consent import ErasureResult, RecipientConsent
from graphql_schema.types.enums import ConsentStatus

__all__ = ["ConsentMutations"]


@strawberry.type
class ConsentMutations:
    @strawberry.mutation
    async def record_consent(
        self, info: Info, email: str, status: ConsentStatus, source: str
    ) -> RecipientConsent:
        user = require_user(info)
        state = await record_consent(email, status.value, source, user, settings_of(info))
        return RecipientConsent.from_state(state)

    @strawberry.mutation
    async def request_tracking_consent(self, info: Info, email: str) -> RecipientConsent:
        user = require_user(info)
        state = await request_tracking_consent(email, user, settings_of(info))
        return RecipientConsent.from_state(state)

    @strawberry.mutation
    async def erase_recipient_data(self, info: Info, email: str) -> ErasureResult:
        user = require_user(info)
        return ErasureResult.from_report(await erase_recipient_data(email, user, settings_of(info)))
