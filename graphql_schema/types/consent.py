"""A recipient's consent to tracking, and erasure results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from graphql_schema.types.enums import ConsentStatus

if TYPE_CHECKING:
    from consent.erasure import ErasureReport
    from consent.service import RecipientConsentState

__all__ = ["ErasureResult", "RecipientConsent"]


@strawberry.type
class RecipientConsent:
    email: str
    jurisdiction: str | None
    requires_consent: bool
    status: ConsentStatus
    updated_at: datetime | None
    source: str | None

    @classmethod
    def from_state(cls, state: RecipientConsentState) -> RecipientConsent:
        return cls(
            email=state.email,
            jurisdiction=state.jurisdiction,
            requires_consent=state.requires_consent,
            status=ConsentStatus(state.status.value),
            updated_at=state.updated_at,
            source=state.source,
        )


@strawberry.type
class ErasureResult:
    email: str
    events_deleted: int
    consent_records_deleted: int

    @classmethod
    def from_report(cls, report: ErasureReport) -> ErasureResult:
        return cls(
            email=report.email,
            events_deleted=report.events_deleted,
            consent_records_deleted=report.consent_records_deleted,
        )
