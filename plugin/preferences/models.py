"""Tracking preferences (Personal preferences > Email sync) and compose defaults."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

__all__ = ["TrackingPreference"]


class TrackingPreference(Model):
    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="tracking_preference", on_delete=fields.CASCADE
    )
    open_tracking_enabled = fields.BooleanField(default=True)
    link_tracking_enabled = fields.BooleanField(default=True)
    notifications_enabled = fields.BooleanField(default=True)
    default_track_opens = fields.BooleanField(default=True)
    default_track_links = fields.BooleanField(default=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mb_tracking_preference"
