"""Tracking preferences: read (everything on by default), update, remember compose choices."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.accounts.models import User
from plugin.preferences.models import TrackingPreference

__all__ = ["PreferenceChanges", "get_preferences", "remember_compose_choices", "update_preferences"]


@dataclass(frozen=True)
class PreferenceChanges:
    open_tracking_enabled: bool | None = None
    link_tracking_enabled: bool | None = None
    notifications_enabled: bool | None = None
    default_track_opens: bool | None = None
    default_track_links: bool | None = None


async def get_preferences(user: User | int) -> TrackingPreference:
    user_id = user if isinstance(user, int) else user.id
    preference, _ = await TrackingPreference.get_or_create(user_id=user_id)
    return preference


async def update_preferences(user: User, changes: PreferenceChanges) -> TrackingPreference:
    preference = await get_preferences(user)
    updates = {name: value for name, value in vars(changes).items() if value is not None}
    if updates:
        preference.update_from_dict(updates)
        await preference.save(update_fields=[*updates, "updated_at"])
    return preference


async def remember_compose_choices(
    user: User | int, *, track_opens: bool, track_links: bool
) -> None:
    """The values a send used become the compose defaults (DESIGN §1)."""
    preference = await get_preferences(user)
    preference.default_track_opens = track_opens
    preference.default_track_links = track_links
    await preference.save(
        update_fields=["default_track_opens", "default_track_links", "updated_at"]
    )
