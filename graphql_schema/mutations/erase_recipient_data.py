"""eraseRecipientData: administrators only; the erasure itself is consent.erasure's."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from consent.erasure import erase_recipient_data
from graphql_schema.context import require_user, settings_of
from graphql_schema.types.consent import ErasureResult

__all__ = ["EraseRecipientData"]


@strawberry.type
class EraseRecipientData:
    @strawberry.mutation
    async def erase_recipient_data(self, info: Info, email: str) -> ErasureResult:
        user = require_user(info)
        return ErasureResult.from_report(await erase_recipient_data(email, user, settings_of(info)))
