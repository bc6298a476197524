"""Live opens, clicks and notifications over WebSocket (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.notification import Notification
from graphql_schema.types.sent_email import TrackingEvent
from plugin.errors import NotImplementedYetError

__all__ = ["Subscription"]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def tracking_events(
        self, info: Info, email_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TrackingEvent, None]:
        require_user(info)
        raise NotImplementedYetError("live events are not implemented yet")
        yield  # pragma: no cover - makes this an async generator

    @strawberry.subscription
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        require_user(info)
        raise NotImplementedYetError("live notifications are not implemented yet")
        yield  # pragma: no cover
