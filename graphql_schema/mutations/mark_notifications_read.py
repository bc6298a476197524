"""markNotificationsRead."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from plugin.notifications.service import mark_read

__all__ = ["MarkNotificationsRead"]


@strawberry.type
class MarkNotificationsRead:
    @strawberry.mutation(
        description="How many notifications changed. `all` marks every unread one; "
        "unknown and other users' ids are ignored."
    )
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID] | None = None, all: bool | None = False
    ) -> int:
        user = require_user(info)
        return await mark_read(user.id, ids=ids or (), all=bool(all))
