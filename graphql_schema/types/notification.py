"""The notification bell."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_schema.types.common import PageInfo
from graphql_schema.types.enums import NotificationKind
from graphql_schema.types.sent_email import SentEmail
from plugin.notifications.models import Notification as NotificationModel

__all__ = ["Notification", "NotificationConnection", "NotificationEdge"]


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: NotificationKind
    email: SentEmail
    url: str | None
    count: int
    created_at: datetime
    updated_at: datetime
    read: bool

    @classmethod
    def from_model(cls, notification: NotificationModel) -> Notification:
        """``notification.email`` must be fetched (select_related)."""
        return cls(
            id=strawberry.ID(str(notification.id)),
            kind=NotificationKind(notification.kind.value),
            email=SentEmail.from_model(notification.email),
            url=notification.url,
            count=notification.count,
            created_at=notification.created_at,
            updated_at=notification.updated_at,
            read=notification.read_at is not None,
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    total_count: int
