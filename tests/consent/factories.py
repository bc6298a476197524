"""Rows the sending and tracking pipelines would have stored, made with the ORM."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from plugin.notifications.models import Notification, NotificationKind
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

__all__ = ["make_email", "store_event", "store_notification", "unique_address"]


def unique_address(domain: str) -> str:
    """A fresh recipient address at ``domain`` (tests share one database)."""
    return f"r-{uuid.uuid4().hex[:10]}@{domain}"


async def make_email(
    user_id: int, recipients: tuple[str, ...], *, per_recipient: bool = False
) -> SentEmail:
    email = await SentEmail.create(
        user_id=user_id,
        subject="Offer",
        to_addresses=list(recipients),
        status=EmailStatus.SENT,
        sent_at=datetime.now(UTC),
        track_opens=True,
        track_links=True,
        track_per_recipient=per_recipient,
        open_count=3,
    )
    for recipient in recipients if per_recipient else (None,):
        await EmailCopy.create(
            email=email,
            public_id=secrets.token_hex(12),
            recipient=recipient,
            envelope_to=[recipient] if recipient else list(recipients),
            track_opens=True,
            track_links=True,
            status=EmailStatus.SENT,
        )
    return email


async def store_event(
    email: SentEmail, recipient: str | None = None, *, occurred_at: datetime | None = None
) -> TrackingEvent:
    query = EmailCopy.filter(email_id=email.id)
    copy = await (query.filter(recipient=recipient) if recipient else query).first()
    assert copy is not None
    return await TrackingEvent.create(
        event_id=uuid.uuid4(),
        user_id=email.user_id,  # type: ignore[attr-defined]
        email_id=email.id,
        copy=copy,
        kind=EventKind.OPEN,
        source=EventSourceField.HUMAN,
        rule="test",
        recipient=recipient,
        occurred_at=occurred_at or datetime.now(UTC),
        method="GET",
        user_agent="Thunderbird/128.0",
        client_hash="0" * 64,
        client_prefix="192.0.2.0/24",
    )


async def store_notification(email: SentEmail, recipient: str | None) -> Notification:
    return await Notification.create(
        user_id=email.user_id,  # type: ignore[attr-defined]
        email_id=email.id,
        kind=NotificationKind.EMAIL_OPENED,
        recipient=recipient,
        updated_at=datetime.now(UTC),
    )
