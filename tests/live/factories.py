"""Rows a tracking pipeline would have stored, made with the ORM, and ways to wait on the bus."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from plugin.hooks import RecordedEvent
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent

__all__ = ["drain_notifications", "make_email", "store_event", "wait_for_subscribers"]


async def make_email(
    user_id: int,
    *,
    links: tuple[str, ...] = ("https://example.org/offer",),
    recipients: tuple[str, ...] = ("ada@example.net",),
    per_recipient: bool = False,
) -> SentEmail:
    """A sent, tracked email with its copy (or one copy per recipient) and links."""
    email = await SentEmail.create(
        user_id=user_id, subject="Offer", to_addresses=list(recipients), status=EmailStatus.SENT,
        sent_at=datetime.now(UTC), track_opens=True, track_links=True,
        track_per_recipient=per_recipient,
    )
    copies = recipients if per_recipient else (None,)
    for recipient in copies:
        await EmailCopy.create(
            email=email, public_id=secrets.token_urlsafe(12)[:16], recipient=recipient,
            envelope_to=list(recipients), track_opens=True, track_links=True,
            status=EmailStatus.SENT, accepted_at=datetime.now(UTC),
        )
    for position, url in enumerate(links):
        await TrackedLink.create(email=email, position=position, url=url)
    return email


async def store_event(
    email: SentEmail,
    kind: str = "OPEN",
    source: str = "HUMAN",
    *,
    duplicate: bool = False,
    link_position: int | None = None,
    recipient: str | None = None,
) -> RecordedEvent:
    """Store one TrackingEvent row and return what the pipeline would hand to dispatch."""
    copy_query = EmailCopy.filter(email_id=email.id)
    if recipient is not None:
        copy_query = copy_query.filter(recipient=recipient)
    copy = await copy_query.first()
    assert copy is not None
    link = None
    if kind == "CLICK":
        link = await TrackedLink.get(email_id=email.id, position=link_position or 0)
    event_id = uuid.uuid4()
    await TrackingEvent.create(
        event_id=event_id, user_id=email.user_id, email_id=email.id, copy=copy, link=link,  # type: ignore[attr-defined]
        kind=EventKind(kind), source=EventSourceField(source), rule="test", duplicate=duplicate,
        recipient=recipient, occurred_at=datetime.now(UTC), method="GET",
        user_agent="Mozilla/5.0 (Windows NT 10.0) Thunderbird/128.0", client_hash="0" * 64,
    )
    return RecordedEvent(
        event_id=str(event_id), user_id=email.user_id, email_id=email.id, kind=kind,  # type: ignore[attr-defined]
        source=source, counted=source == "HUMAN" and not duplicate,
        url=link.url if link else None, recipient=recipient,
    )


async def wait_for_subscribers(user_id: int, count: int = 1, timeout: float = 10) -> None:
    """Poll this process's bus until ``count`` local subscriptions listen to ``user_id``."""
    from plugin.live.bus import current_bus

    deadline = asyncio.get_running_loop().time() + timeout
    while current_bus().subscriber_count(user_id) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {count} subscriber(s) for user {user_id}")
        await asyncio.sleep(0.01)


async def drain_notifications(fail_fast: bool = False) -> Any:
    """Wait until the embedded broker has processed every notification message."""
    from plugin.runtime import current_runtime

    broker: Any = current_runtime().broker
    await asyncio.to_thread(broker.join, "notifications", timeout=30_000, fail_fast=fail_fast)
    return broker
