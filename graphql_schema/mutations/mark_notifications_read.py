"""markNotificationsRead."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from plugin.errors import NotImplementedYetError

__all__ = ["MarkNotificationsRead"]


@strawberry.type
class MarkNotificationsRead:
    @strawberry.mutation(description="How many notifications changed.")
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID] | None = None, all: bool | None = False
    ) -> int:
        require_user(info)
        raise NotImplementedYetError("notifications are not implemented yet")
