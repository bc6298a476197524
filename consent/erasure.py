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

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from consent.models import ConsentRecord, ConsentState, ConsentSuppression
from consent.service import validate_address
from consent.signing import keys_for
from plugin.accounts.models import User
from plugin.errors import ForbiddenError
from plugin.notifications.models import Notification
from plugin.sending.models import EmailCopy
from plugin.settings import Settings
from plugin.tracking.models import TrackingEvent

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
    # Read before the transaction: on SQLite a transaction that reads first cannot take
    # the write lock while a worker writes ("database is locked" at once, no waiting).
    copies = await EmailCopy.filter(recipient=address).values_list("id", flat=True)
    names = Q(recipient=address) | Q(copy_id__in=list(copies)) if copies else Q(recipient=address)
    async with in_transaction():
        events = await TrackingEvent.filter(names).delete()
        notifications = await Notification.filter(recipient=address).delete()
        records = await ConsentRecord.filter(recipient=address).delete()
        # A fresh entry: its time is the erasure's, which recipientConsent then reports.
        await ConsentSuppression.filter(address_hash__in=hashes).delete()
        # Erasure is the recipient's own request: a CRM user's grant cannot undo it.
        await ConsentSuppression.create(
            address_hash=hashes[0], status=ConsentState.WITHDRAWN, by_recipient=True
        )
    return ErasureReport(
        email=address,
        events_deleted=events,
        notifications_deleted=notifications,
        consent_records_deleted=records,
    )
