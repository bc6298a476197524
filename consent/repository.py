"""Every query of consent: records, suppression entries, the forms' and links' bookkeeping,
and what consent reads or removes of the other domains' rows about one recipient.

Consent is the company's record about a recipient, whichever user sends, so these
queries are keyed by the recipient's address (or its keyed hashes, or a copy's
public id), never by a CRM user: who may call them is decided above (the
authorization matrix, the admin checks of export and erasure, the signed pages).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from consent.models import (
    ConsentFormUse,
    ConsentLinkMail,
    ConsentRecord,
    ConsentState,
    ConsentSuppression,
)
from plugin.accounts.models import User
from plugin.notifications.models import Notification
from plugin.sending.models import EmailCopy
from plugin.tracking.models import TrackingEvent

__all__ = [
    "any_suppressed",
    "append_record",
    "copy_tracking_state",
    "copy_with_sender",
    "erase_recipient",
    "insert_form_use",
    "insert_link_mail",
    "keep_suppression_in_step",
    "purge_bookkeeping",
    "purge_events_before",
    "recipient_history",
    "records_of",
    "stop_copy_tracking",
    "suppressions_among",
]


async def records_of(addresses: Iterable[str]) -> list[ConsentRecord]:
    """The consent records of these (normalized) addresses, oldest first."""
    return await ConsentRecord.filter(recipient__in=list(addresses)).order_by("recorded_at", "id")


async def suppressions_among(hashes: Iterable[str]) -> list[ConsentSuppression]:
    return await ConsentSuppression.filter(address_hash__in=list(hashes))


async def any_suppressed(hashes: list[str], *, by_recipient_only: bool = False) -> bool:
    """Whether a suppression entry exists under one of these hashes (one indexed query);
    ``by_recipient_only``: one the recipient made (consent page, erasure)."""
    entries = ConsentSuppression.filter(address_hash__in=hashes)
    if by_recipient_only:
        entries = entries.filter(by_recipient=True)
    return await entries.exists()


async def insert_form_use(nonce: str) -> None:
    """Raises IntegrityError when the form's nonce was used already."""
    await ConsentFormUse.create(nonce=nonce)


async def append_record(
    *, recipient: str, status: ConsentState, source: str, text_version: str,
    recorded_by: User | None, by_recipient: bool, note: str | None,
) -> None:
    await ConsentRecord.create(
        recipient=recipient, status=status, source=source, text_version=text_version,
        recorded_by=recorded_by, by_recipient=by_recipient, note=note,
    )


async def keep_suppression_in_step(
    hashes: list[str], state: ConsentState, by_recipient: bool
) -> None:
    """One suppression entry (under the current hash) for a refusal, none after a grant."""
    if state is ConsentState.GRANTED:
        # A grant that got this far lifts every suppression, erasure's included.
        await ConsentSuppression.filter(address_hash__in=hashes).delete()
        return
    await ConsentSuppression.filter(address_hash__in=hashes[1:]).delete()
    changes: dict[str, object] = {"status": state}
    if by_recipient:
        changes["by_recipient"] = True  # a user's refusal never clears the recipient's own
    updated = await ConsentSuppression.filter(address_hash=hashes[0]).update(**changes)
    if not updated:
        await ConsentSuppression.create(
            address_hash=hashes[0], status=state, by_recipient=by_recipient
        )


async def erase_recipient(address: str, hashes: list[str]) -> tuple[int, int, int]:
    """Delete the events and notifications that name the recipient and its consent records,
    and leave one fresh WITHDRAWN entry made by the recipient; the counts deleted
    (events, notifications, records)."""
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
    return events, notifications, records


async def recipient_history(
    address: str,
) -> tuple[list[ConsentRecord], list[TrackingEvent], list[Notification]]:
    """What names the recipient, oldest first: its consent records, the events (with their
    link and email) and the notifications."""
    records = await ConsentRecord.filter(recipient=address).order_by("recorded_at", "id")
    events = (
        await TrackingEvent.filter(Q(recipient=address) | Q(copy__recipient=address))
        .order_by("occurred_at", "id")
        .prefetch_related("link", "email")
    )
    notifications = await Notification.filter(recipient=address).order_by("created_at", "id")
    return records, events, notifications


async def stop_copy_tracking(public_id: str) -> bool:
    """Stop recording hits on the copy (idempotent); False when no such copy exists."""
    await EmailCopy.filter(public_id=public_id, tracking_stopped_at=None).update(
        tracking_stopped_at=datetime.now(UTC)
    )
    return await EmailCopy.filter(public_id=public_id).exists()


async def copy_with_sender(public_id: str) -> EmailCopy | None:
    """The copy with its email and the email's user."""
    return await EmailCopy.get_or_none(public_id=public_id).prefetch_related("email__user")


async def copy_tracking_state(public_id: str) -> EmailCopy | None:
    """The copy's id and ``tracking_stopped_at`` only."""
    return await EmailCopy.get_or_none(public_id=public_id).only("id", "tracking_stopped_at")


async def insert_link_mail(address_hash: str, day: int) -> None:
    """Raises IntegrityError when a personal link went to the address that day."""
    await ConsentLinkMail.create(address_hash=address_hash, day=day)


async def purge_bookkeeping(*, forms_used_before: datetime, links_mailed_before: datetime) -> None:
    await ConsentFormUse.filter(used_at__lt=forms_used_before).delete()
    await ConsentLinkMail.filter(created_at__lt=links_mailed_before).delete()


async def purge_events_before(cutoff: datetime, *, slice_size: int) -> int:
    """Delete the events that occurred before ``cutoff``, ``slice_size`` per statement
    (each statement, and a SQLite write lock, stays short); how many."""
    total = 0
    while True:
        ids = (
            await TrackingEvent.filter(occurred_at__lt=cutoff)
            .limit(slice_size)
            .values_list("id", flat=True)
        )
        if not ids:
            return total
        total += await TrackingEvent.filter(id__in=list(ids)).delete()
