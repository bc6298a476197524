"""updateTrackingPreferences."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.context import require_user
from graphql_schema.types.preferences import TrackingPreferences, TrackingPreferencesInput
from plugin.preferences.service import update_preferences

__all__ = ["UpdateTrackingPreferences"]


@strawberry.type
class UpdateTrackingPreferences:
    @strawberry.mutation
    async def update_tracking_preferences(
        self, info: Info, input: TrackingPreferencesInput
    ) -> TrackingPreferences:
        preference = await update_preferences(require_user(info), input.to_changes())
        return TrackingPreferences.from_model(preference)
