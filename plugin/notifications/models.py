"""Entries of the notification bell, coalesced while unread."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User
from plugin.sending.models import SentEmail, TrackedLink

__all__ = ["Notification", "NotificationKind"]


class NotificationKind(str, Enum):
    EMAIL_OPENED = "EMAIL_OPENED"
    LINK_CLICKED = "LINK_CLICKED"


class Notification(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    email: fields.ForeignKeyRelation[SentEmail] = fields.ForeignKeyField(
        "models.SentEmail", related_name="notifications", on_delete=fields.CASCADE
    )
    link: fields.ForeignKeyNullableRelation[TrackedLink] = fields.ForeignKeyField(
        "models.TrackedLink", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(NotificationKind, max_length=12)
    url = fields.TextField(null=True)
    # Per-recipient copies only: who caused it, so erasure can find it.
    recipient = fields.CharField(max_length=254, null=True, db_index=True)
    count = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mb_notification"
        indexes = (
            ("user_id", "read_at"),
            ("user_id", "updated_at"),
            ("email_id", "kind", "read_at"),
        )
