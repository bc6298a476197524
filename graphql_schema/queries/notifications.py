"""notifications and unreadNotificationCount (the bell)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.pagination import decode_cursor, encode_cursor, page_size
from graphql_schema.types.common import PageInfo
from graphql_schema.types.notification import (
    Notification,
    NotificationConnection,
    NotificationEdge,
)
from plugin.notifications.repository import list_notifications, unread_count

__all__ = ["NotificationQueries"]


@strawberry.type
class NotificationQueries:
    @strawberry.field(
        description="The caller's notifications, most recent activity (updatedAt) first."
    )
    async def notifications(
        self,
        info: Info,
        unread_only: bool | None = False,
        first: int | None = 20,
        after: str | None = None,
    ) -> NotificationConnection:
        user = require_user(info)
        size = page_size(first)
        page = await list_notifications(
            user.id,
            unread_only=bool(unread_only),
            first=size,
            after=decode_cursor(after),
        )
        edges = [
            NotificationEdge(
                cursor=encode_cursor(n.updated_at, n.id), node=Notification.from_model(n)
            )
            for n in page.notifications
        ]
        return NotificationConnection(
            edges=edges,
            page_info=PageInfo.of([e.cursor for e in edges], has_next_page=page.has_next_page),
            total_count=page.total_count,
        )

    @strawberry.field
    async def unread_notification_count(self, info: Info) -> int:
        return await unread_count(require_user(info).id)
