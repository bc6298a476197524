"""Tracking preferences: read (everything on by default), update, remember compose choices."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.accounts.models import User
from plugin.preferences import repository
from plugin.preferences.models import TrackingPreference

__all__ = ["PreferenceChanges", "get_preferences", "remember_compose_choices", "update_preferences"]


@dataclass(frozen=True)
class PreferenceChanges:
    open_tracking_enabled: bool | None = None
    link_tracking_enabled: bool | None = None
    notifications_enabled: bool | None = None
    default_track_opens: bool | None = None
    default_track_links: bool | None = None


def _id_of(user: User | int) -> int:
    return user if isinstance(user, int) else user.id


async def get_preferences(user: User | int) -> TrackingPreference:
    return await repository.preferences_of(_id_of(user))


async def update_preferences(user: User, changes: PreferenceChanges) -> TrackingPreference:
    updates = {name: value for name, value in vars(changes).items() if value is not None}
    return await repository.set_preferences(user.id, updates)


async def remember_compose_choices(
    user: User | int, *, track_opens: bool, track_links: bool
) -> None:
    """The values a send used become the compose defaults (DESIGN §1)."""
    await repository.set_preferences(
        _id_of(user), {"default_track_opens": track_opens, "default_track_links": track_links}
    )
