"""me and trackingPreferences."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.preferences import TrackingPreferences
from graphql_schema.types.user import User
from plugin.preferences.service import get_preferences

__all__ = ["AccountQueries"]


@strawberry.type
class AccountQueries:
    @strawberry.field
    def me(self, info: Info) -> User:
        return User.from_model(require_user(info))

    @strawberry.field
    async def tracking_preferences(self, info: Info) -> TrackingPreferences:
        return TrackingPreferences.from_model(await get_preferences(require_user(info)))
