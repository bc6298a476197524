"""A recipient's consent to tracking, and erasure results."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_schema.types.enums import ConsentStatus

__all__ = ["RecipientConsent", "ErasureResult"]


@strawberry.type
class RecipientConsent:
    email: str
    jurisdiction: str | None
    requires_consent: bool
    status: ConsentStatus
    updated_at: datetime | None
    source: str | None


@strawberry.type
class ErasureResult:
    email: str
    events_deleted: int
    consent_records_deleted: int
