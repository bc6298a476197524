"""Every query of tracking preferences: one row per user, made on first use, by its owner's id."""

from __future__ import annotations

from plugin.preferences.models import TrackingPreference

__all__ = ["preferences_of", "set_preferences"]


async def preferences_of(owner_id: int) -> TrackingPreference:
    """The owner's preferences (a row with every default, created if it had none)."""
    preference, _ = await TrackingPreference.get_or_create(user_id=owner_id)
    return preference


async def set_preferences(owner_id: int, updates: dict[str, bool]) -> TrackingPreference:
    """Write ``updates`` (field -> value) to the owner's preferences; them, as stored."""
    preference = await preferences_of(owner_id)
    if updates:
        preference.update_from_dict(updates)
        await preference.save(update_fields=[*updates, "updated_at"])
    return preference
