"""Sent mail the tracking tests hit: rows made with the ORM, tokens signed like the sender's."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.settings import Settings
from plugin.tracking.edge.signer import signer_for
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.store import PENDING_RULE

__all__ = [
    "TrackedMail",
    "events_of",
    "make_tracked_mail",
    "wait_for_events",
    "wait_until",
    "wire_hit",
]

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
THUNDERBIRD_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1"


@dataclass
class TrackedMail:
    settings: Settings
    email: SentEmail
    copies: list[EmailCopy]
    links: list[TrackedLink]
    urls: list[str] = field(default_factory=list)

    def copy_id(self, copy: int = 0) -> bytes:
        return bytes.fromhex(self.copies[copy].public_id)

    def open_path(self, copy: int = 0) -> str:
        return f"/t/o/{signer_for(self.settings).sign_open(self.copy_id(copy))}.gif"

    def click_path(self, index: int = 1, copy: int = 0, destination: str | None = None) -> str:
        target = destination if destination is not None else self.urls[index - 1]
        token = signer_for(self.settings).sign_click(self.copy_id(copy), index, target)
        return f"/t/c/{token}"

    def honeypot_path(self, copy: int = 0) -> str:
        token = signer_for(self.settings).sign_click(
            self.copy_id(copy), 0, "https://example.com/hp", honeypot=True
        )
        return f"/t/c/{token}"


async def make_tracked_mail(
    settings: Settings,
    user_id: int,
    *,
    urls: Sequence[str] = ("https://example.com/a", "https://example.com/b"),
    recipients: Sequence[str] = ("ada@example.org",),
    per_recipient: bool = False,
    accepted_seconds_ago: float = 3600.0,
) -> TrackedMail:
    """A sent, tracked email with one copy (or one per recipient) and its links."""
    accepted = datetime.now(UTC) - timedelta(seconds=accepted_seconds_ago)
    email = await SentEmail.create(
        user_id=user_id,
        subject="Hello",
        to_addresses=list(recipients),
        status=EmailStatus.SENT,
        sent_at=accepted,
        track_opens=True,
        track_links=True,
        track_per_recipient=per_recipient,
    )
    copies = []
    for recipient in recipients if per_recipient else (None,):
        copies.append(
            await EmailCopy.create(
                email=email,
                public_id=secrets.token_hex(12),
                recipient=recipient,
                envelope_to=[recipient] if recipient else list(recipients),
                track_opens=True,
                track_links=True,
                status=EmailStatus.SENT,
                accepted_at=accepted,
            )
        )
    links = [
        await TrackedLink.create(email=email, position=index, url=url)
        for index, url in enumerate(urls, start=1)
    ]
    return TrackedMail(settings, email, copies, links, list(urls))


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    """Poll an async predicate until it holds (the pipeline runs in worker threads)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def events_of(email: SentEmail, *, decided_only: bool = True) -> list[TrackingEvent]:
    query = TrackingEvent.filter(email_id=email.id)
    if decided_only:
        query = query.exclude(rule=PENDING_RULE)
    return await query.order_by("occurred_at", "id").select_related("link")


async def wait_for_events(
    email: SentEmail, count: int, *, decided_only: bool = True, timeout: float = 15.0
) -> list[TrackingEvent]:
    """Wait until ``count`` events of ``email`` are stored (and decided), then return them."""

    async def enough() -> bool:
        query = TrackingEvent.filter(email_id=email.id)
        if decided_only:
            query = query.exclude(rule=PENDING_RULE)
        return await query.count() >= count

    await wait_until(enough, timeout)
    return await events_of(email, decided_only=decided_only)


def wire_hit(
    mail: TrackedMail,
    *,
    at: float,
    kind: str = "O",
    link: int | None = None,
    honeypot: bool = False,
    ua: str = THUNDERBIRD_UA,
    ip: str = "198.51.100.7",
    method: str = "GET",
    copy: int = 0,
    credential: str | None = None,
) -> dict[str, Any]:
    """A hit in the form the edge hands to the queue (for driving the pipeline directly)."""
    import uuid

    from plugin.tracking.edge.hits import EdgeHit
    from plugin.tracking.pipeline.classify import HitKind

    return EdgeHit(
        event_id=uuid.uuid4().hex,
        kind=HitKind.OPEN if kind == "O" else HitKind.CLICK,
        copy_id=mail.copies[copy].public_id,
        link_index=0 if honeypot else link,
        honeypot=honeypot,
        occurred_at=at,
        method=method,
        user_agent=ua,
        client_ip=ip,
        credential=credential,
    ).to_wire()
