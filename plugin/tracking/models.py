"""Tracking events: every hit, classified; only HUMAN, non-duplicate ones are counted."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

if TYPE_CHECKING:
    # Typing only: tortoise relates models by name ("models.SentEmail"), and sending
    # (which instruments with tracking's code) sits above tracking.
    from plugin.sending.models import EmailCopy, SentEmail, TrackedLink

__all__ = ["EventKind", "EventSourceField", "TrackingEvent"]


class EventKind(str, Enum):
    OPEN = "OPEN"
    CLICK = "CLICK"


class EventSourceField(str, Enum):
    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    BOT = "BOT"
    SELF = "SELF"


class TrackingEvent(Model):
    id = fields.IntField(primary_key=True)
    # Made at the edge when the hit was answered: redelivery of a message can never store twice.
    event_id = fields.UUIDField(unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tracking_events", on_delete=fields.CASCADE
    )
    email: fields.ForeignKeyRelation[SentEmail] = fields.ForeignKeyField(
        "models.SentEmail", related_name="events", on_delete=fields.CASCADE
    )
    copy: fields.ForeignKeyRelation[EmailCopy] = fields.ForeignKeyField(
        "models.EmailCopy", related_name="events", on_delete=fields.CASCADE
    )
    link: fields.ForeignKeyNullableRelation[TrackedLink] = fields.ForeignKeyField(
        "models.TrackedLink", related_name="events", null=True, on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=5)
    source = fields.CharEnumField(EventSourceField, max_length=7)
    rule = fields.CharField(max_length=40)
    duplicate = fields.BooleanField(default=False)
    honeypot = fields.BooleanField(default=False)
    # Per-recipient copies only: the normalized recipient address.
    recipient = fields.CharField(max_length=254, null=True, db_index=True)
    occurred_at = fields.DatetimeField()
    method = fields.CharField(max_length=8)
    user_agent = fields.CharField(max_length=512, default="")
    # No raw IP address is stored: a keyed hash of the full address, and its network prefix.
    client_hash = fields.CharField(max_length=64)
    client_prefix = fields.CharField(max_length=50, default="")
    notified = fields.BooleanField(default=False)

    class Meta:
        table = "mb_tracking_event"
        indexes = (
            ("email_id", "occurred_at"),
            # The classification context: a client's earlier hits on a copy, in a time window.
            ("copy_id", "client_hash", "occurred_at"),
            # Retention purges by age.
            ("occurred_at",),
            ("user_id", "occurred_at"),
        )
