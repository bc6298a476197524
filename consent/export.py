"""A recipient's tracking data and consent history as JSON (data-subject access request)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consent.repository import recipient_history
from consent.service import recipient_consent, validate_address
from plugin.accounts.models import User
from plugin.errors import ForbiddenError
from plugin.settings import Settings

__all__ = ["export_recipient_data"]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


async def export_recipient_data(
    email: str, actor: User | None, settings: Settings
) -> dict[str, Any]:
    """Everything mailbeacon holds that names the recipient, JSON-ready.

    ``actor`` must be an admin (None: the operator's CLI). Events of shared
    messages name no recipient and are therefore not part of it.
    """
    if actor is not None and not actor.is_admin:
        raise ForbiddenError("only administrators may export a recipient's data")
    address = validate_address(email)
    state = await recipient_consent(address, settings)
    records, events, notifications = await recipient_history(address)
    return {
        "recipient": address,
        "exportedAt": _iso(datetime.now(UTC)),
        "consent": {
            "jurisdiction": state.jurisdiction,
            "policy": state.policy,
            "requiresConsent": state.requires_consent,
            "status": state.status.value,
            "updatedAt": _iso(state.updated_at),
            "source": state.source,
        },
        "consentHistory": [
            {
                "status": r.status.value,
                "recordedAt": _iso(r.recorded_at),
                "source": r.source,
                "textVersion": r.text_version,
                "recordedByUserId": r.recorded_by_id,  # type: ignore[attr-defined]
                "byRecipient": r.by_recipient,  # the recipient's own choice (consent page)
                "note": r.note,  # why, e.g. an administrator's proof of consent
            }
            for r in records
        ],
        "trackingEvents": [
            {
                "emailId": e.email_id,  # type: ignore[attr-defined]
                "subject": e.email.subject,
                "kind": e.kind.value,
                "occurredAt": _iso(e.occurred_at),
                "source": e.source.value,
                "url": e.link.url if e.link is not None else None,
                "userAgent": e.user_agent,
                "networkPrefix": e.client_prefix,
            }
            for e in events
        ],
        "notifications": [
            {
                "emailId": n.email_id,  # type: ignore[attr-defined]
                "kind": n.kind.value,
                "count": n.count,
                "createdAt": _iso(n.created_at),
                "updatedAt": _iso(n.updated_at),
            }
            for n in notifications
        ],
    }
