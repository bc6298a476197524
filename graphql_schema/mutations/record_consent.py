"""recordConsent: record a recipient's consent as the caller."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from consent.service import record_consent
from graphql_schema.context import require_user, settings_of
from graphql_schema.types.consent import RecipientConsent
from graphql_schema.types.enums import ConsentStatus

__all__ = ["RecordConsent"]


@strawberry.type
class RecordConsent:
    @strawberry.mutation(
        description=(
            "Record a recipient's consent. A GRANTED over the recipient's own refusal (on the "
            "consent page, or an erasure) is refused with RECIPIENT_REFUSED unless an "
            "administrator records it with a note of the proof."
        )
    )
    async def record_consent(
        self,
        info: Info,
        email: str,
        status: ConsentStatus,
        source: str,
        note: Annotated[
            str | None,
            strawberry.argument(description="Why: e.g. the proof of the recipient's consent."),
        ] = None,
    ) -> RecipientConsent:
        user = require_user(info)
        state = await record_consent(
            email, status.value, source, user, settings_of(info), note=note
        )
        return RecipientConsent.from_state(state)
