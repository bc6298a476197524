"""notifications and unreadNotificationCount (the bell)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.notification import NotificationConnection
from plugin.errors import NotImplementedYetError

__all__ = ["NotificationQueries"]


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="The caller's notifications, newest first.")
    async def notifications(
        self,
        info: Info,
        unread_only: bool | None = False,
        first: int | None = 20,
        after: str | None = None,
    ) -> NotificationConnection:
        require_user(info)
        raise NotImplementedYetError("notifications are not implemented yet")

    @strawberry.field
    async def unread_notification_count(self, info: Info) -> int:
        require_user(info)
        raise NotImplementedYetError("notifications are not implemented yet")
