"""recipientConsent, and recipientData (admins: a data-subject access export)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from consent.export import export_recipient_data
from consent.service import recipient_consent
from graphql_schema.context import require_user, settings_of
from graphql_schema.types.consent import RecipientConsent

__all__ = ["ConsentQueries"]


@strawberry.type
class ConsentQueries:
    @strawberry.field
    async def recipient_consent(self, info: Info, email: str) -> RecipientConsent:
        require_user(info)
        return RecipientConsent.from_state(await recipient_consent(email, settings_of(info)))

    @strawberry.field(
        description="Admins only: everything stored that names the recipient, as JSON "
        "(tracking events of per-recipient copies, notifications, consent history)."
    )
    async def recipient_data(self, info: Info, email: str) -> JSON:
        user = require_user(info)
        data: Any = await export_recipient_data(email, user, settings_of(info))
        return data
