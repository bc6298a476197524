"""Tracking preferences (Personal preferences > Email sync)."""

from __future__ import annotations

import strawberry

from plugin.preferences.models import TrackingPreference
from plugin.preferences.service import PreferenceChanges

__all__ = ["TrackingPreferences", "TrackingPreferencesInput"]


@strawberry.type(
    description="The user's own settings (Personal preferences > Email sync in the CRM)."
)
class TrackingPreferences:
    open_tracking_enabled: bool
    link_tracking_enabled: bool
    notifications_enabled: bool
    default_track_opens: bool
    default_track_links: bool

    @classmethod
    def from_model(cls, pref: TrackingPreference) -> TrackingPreferences:
        return cls(
            open_tracking_enabled=pref.open_tracking_enabled,
            link_tracking_enabled=pref.link_tracking_enabled,
            notifications_enabled=pref.notifications_enabled,
            default_track_opens=pref.default_track_opens,
            default_track_links=pref.default_track_links,
        )


@strawberry.input
class TrackingPreferencesInput:
    open_tracking_enabled: bool | None = None
    link_tracking_enabled: bool | None = None
    notifications_enabled: bool | None = None
    default_track_opens: bool | None = None
    default_track_links: bool | None = None

    def to_changes(self) -> PreferenceChanges:
        return PreferenceChanges(
            open_tracking_enabled=self.open_tracking_enabled,
            link_tracking_enabled=self.link_tracking_enabled,
            notifications_enabled=self.notifications_enabled,
            default_track_opens=self.default_track_opens,
            default_track_links=self.default_track_links,
        )
