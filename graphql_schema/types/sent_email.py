"""Sent emails as the Mail tab shows them, with their tracking figures."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.loaders import EventsKey, loaders_of
from graphql_schema.types.client import EventClient, OpenBreakdown
from graphql_schema.types.common import PageInfo, UserError
from graphql_schema.types.enums import EmailStatus, EventSource, TrackingEventKind
from plugin.sending.models import SentEmail as SentEmailModel
from plugin.sending.models import TrackedLink as TrackedLinkModel
from plugin.tracking.models import TrackingEvent as TrackingEventModel
from plugin.tracking.pipeline.describe import present_event
from plugin.tracking.repository import open_breakdown

__all__ = [
    "SendEmailInput",
    "SendEmailPayload",
    "SentEmail",
    "SentEmailConnection",
    "SentEmailEdge",
    "SentEmailFilter",
    "TrackedLink",
    "TrackingDecision",
    "TrackingEvent",
]

MAX_EVENTS = 500


@strawberry.type
class TrackedLink:
    id: strawberry.ID
    url: str
    click_count: int
    first_clicked_at: datetime | None
    last_clicked_at: datetime | None

    @classmethod
    def from_model(cls, link: TrackedLinkModel) -> TrackedLink:
        return cls(
            id=strawberry.ID(str(link.id)),
            url=link.url,
            click_count=link.click_count,
            first_clicked_at=link.first_clicked_at,
            last_clicked_at=link.last_clicked_at,
        )


@strawberry.type
class TrackingEvent:
    id: strawberry.ID
    email_id: strawberry.ID
    kind: TrackingEventKind
    occurred_at: datetime
    source: EventSource
    url: str | None
    recipient: str | None
    duplicate: bool = strawberry.field(description="A repeat of an open or click already counted.")
    client: EventClient = strawberry.field(
        description="The mail client or browser, system and device (or proxy) behind the event."
    )
    description: str = strawberry.field(
        description='The event in words: "Opened in Outlook 16 on Windows", '
        '"Prefetched by Apple Mail Privacy Protection: not counted".'
    )
    rule: str | None = strawberry.field(
        default=None,
        description="The classifier's stable name for the rule that decided the source "
        "(apple-mpp, scanner-window, burst, honeypot, self, human...).",
    )

    @classmethod
    def from_model(cls, event: TrackingEventModel, url: str | None = None) -> TrackingEvent:
        client, description = present_event(
            event.kind.value, event.source.value, event.rule, event.duplicate, event.user_agent
        )
        return cls(
            id=strawberry.ID(str(event.id)),
            email_id=strawberry.ID(str(event.email_id)),  # type: ignore[attr-defined]
            kind=TrackingEventKind(event.kind.value),
            occurred_at=event.occurred_at,
            source=EventSource(event.source.value),
            url=url,
            recipient=event.recipient,
            duplicate=event.duplicate,
            client=EventClient.of(client),
            description=description,
            rule=event.rule,
        )


@strawberry.type
class SentEmail:
    id: strawberry.ID
    subject: str
    to: list[str]
    cc: list[str]
    status: EmailStatus
    created_at: datetime
    sent_at: datetime | None
    message_id: str | None
    track_opens: bool
    track_links: bool
    tracked: bool
    opened: bool
    open_count: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None
    clicked: bool
    click_count: int
    first_clicked_at: datetime | None
    last_clicked_at: datetime | None
    error: str | None = strawberry.field(description="The mail server's reason when FAILED.")
    tracking_reasons: list[str] = strawberry.field(
        description="Why tracking was switched off, as decided at send time."
    )

    @strawberry.field
    async def links(self, info: Info) -> list[TrackedLink]:
        links = await loaders_of(info).links.load(int(self.id))
        return [TrackedLink.from_model(link) for link in links]

    @strawberry.field(description="Every event, every source, newest first.")
    async def events(self, info: Info, first: int | None = 50) -> list[TrackingEvent]:
        limit = max(1, min(first if first is not None else 50, MAX_EVENTS))
        events = await loaders_of(info).events.load(EventsKey(int(self.id), limit))
        return [
            TrackingEvent.from_model(event, event.link.url if event.link else None)
            for event in events
        ]

    @strawberry.field(
        description="Counted opens (people only) by device type and by mail client, "
        "over the events still kept (see the event retention)."
    )
    async def open_breakdown(self, info: Info) -> OpenBreakdown:
        return OpenBreakdown.of(await open_breakdown(require_user(info).id, int(self.id)))

    @classmethod
    def from_model(cls, email: SentEmailModel) -> SentEmail:
        return cls(
            id=strawberry.ID(str(email.id)),
            subject=email.subject,
            to=list(email.to_addresses),
            cc=list(email.cc_addresses),
            status=EmailStatus(email.status.value),
            created_at=email.created_at,
            sent_at=email.sent_at,
            message_id=email.message_id,
            track_opens=email.track_opens,
            track_links=email.track_links,
            tracked=email.tracked,
            opened=email.open_count > 0,
            open_count=email.open_count,
            first_opened_at=email.first_opened_at,
            last_opened_at=email.last_opened_at,
            clicked=email.click_count > 0,
            click_count=email.click_count,
            first_clicked_at=email.first_clicked_at,
            last_clicked_at=email.last_clicked_at,
            error=email.error,
            tracking_reasons=list(email.decision_reasons or []),
        )


@strawberry.input
class SentEmailFilter:
    tracked: bool | None = None
    opened: bool | None = None
    clicked: bool | None = None
    search: str | None = None
    sent_after: datetime | None = None
    sent_before: datetime | None = None


@strawberry.type
class SentEmailEdge:
    cursor: str
    node: SentEmail


@strawberry.type
class SentEmailConnection:
    edges: list[SentEmailEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class SendEmailInput:
    to: list[str]
    subject: str
    cc: list[str] | None = None
    bcc: list[str] | None = None
    html: str | None = None
    text: str | None = None
    context: JSON | None = None
    track_opens: bool | None = None
    track_links: bool | None = None
    track_per_recipient: bool | None = None
    idempotency_key: str | None = None


@strawberry.type
class TrackingDecision:
    opens: bool
    links: bool
    reasons: list[str]


@strawberry.type
class SendEmailPayload:
    email: SentEmail | None
    tracking: TrackingDecision | None
    errors: list[UserError]

    @classmethod
    def refused(cls, errors: list[UserError]) -> SendEmailPayload:
        return cls(email=None, tracking=None, errors=errors)
