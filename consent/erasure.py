"""Erasure of a recipient's tracking data (GDPR art. 17), for admins.

Deletes every tracking event and notification that names the recipient (the
per-recipient copies' data) and the recipient's consent history, and keeps one
suppression entry (a keyed hash of the address, WITHDRAWN) so the withdrawal
keeps being honoured. Sent emails stay: they are the CRM's correspondence, not
tracking data; their aggregate counters (opens, clicks) name nobody and stay too.
Events of shared messages name no recipient and are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from consent import repository
from consent.service import validate_address
from consent.signing import keys_for
from plugin.accounts.models import User
from plugin.errors import ForbiddenError
from plugin.settings import Settings

__all__ = ["ErasureReport", "erase_recipient_data"]


@dataclass(frozen=True)
class ErasureReport:
    email: str
    events_deleted: int
    notifications_deleted: int
    consent_records_deleted: int


async def erase_recipient_data(
    email: str, actor: User | None, settings: Settings
) -> ErasureReport:
    """Erase the recipient's data; ``actor`` must be an admin (None: the operator's CLI).

    Raises ForbiddenError for non-admins, ValidationError for a malformed address.
    """
    if actor is not None and not actor.is_admin:
        raise ForbiddenError("only administrators may erase a recipient's data")
    address = validate_address(email)
    hashes = keys_for(settings).address_hashes(address)
    events, notifications, records = await repository.erase_recipient(address, hashes)
    return ErasureReport(
        email=address,
        events_deleted=events,
        notifications_deleted=notifications,
        consent_records_deleted=records,
    )
