"""Preferences are read and written by their owner's id only."""

from __future__ import annotations

from plugin.preferences import repository
from tests.conftest import UserFactory


async def test_one_users_changes_leave_another_users_preferences_alone(
    make_user: UserFactory,
) -> None:
    owner, other = await make_user(), await make_user()
    await repository.set_preferences(owner.id, {"notifications_enabled": False})

    assert (await repository.preferences_of(other.id)).notifications_enabled is True
    await repository.set_preferences(other.id, {"default_track_links": False})
    mine = await repository.preferences_of(owner.id)
    assert mine.notifications_enabled is False and mine.default_track_links is True
