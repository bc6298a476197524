"""Consent proof: an append-only log per recipient, and suppression entries left by erasure."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

__all__ = ["ConsentRecord", "ConsentState", "ConsentSuppression"]


class ConsentState(str, Enum):
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    WITHDRAWN = "WITHDRAWN"


class ConsentRecord(Model):
    # One change of a recipient's consent. Rows are only ever appended (or erased).

    id = fields.IntField(primary_key=True)
    recipient = fields.CharField(max_length=254)
    status = fields.CharEnumField(ConsentState, max_length=9)
    recorded_at = fields.DatetimeField(auto_now_add=True)
    source = fields.CharField(max_length=100)
    text_version = fields.CharField(max_length=40)
    recorded_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="consent_records", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "mb_consent_record"
        indexes = (("recipient", "recorded_at"),)


class ConsentSuppression(Model):
    # What erasure leaves behind: a keyed hash of the address, so withdrawal keeps working.

    id = fields.IntField(primary_key=True)
    address_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(ConsentState, max_length=9, default=ConsentState.WITHDRAWN)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mb_consent_suppression"
