"""Consent proof: an append-only log per recipient, and suppression entries left by erasure."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

__all__ = [
    "ConsentFormUse",
    "ConsentLinkMail",
    "ConsentRecord",
    "ConsentState",
    "ConsentSuppression",
]


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
    # Who spoke: the recipient (on the consent page, through a link mailed to it alone),
    # or a CRM user (recorded_by). The recipient's own refusal outranks a user's grant.
    by_recipient = fields.BooleanField(default=False, db_default=False)
    # Why: the proof an administrator gives when recording a grant over the recipient's
    # own refusal (e.g. "signed form of 2026-12-01, scanned in the contact's files").
    note = fields.TextField(null=True)

    class Meta:
        table = "mb_consent_record"
        indexes = (("recipient", "recorded_at"),)


class ConsentSuppression(Model):
    # What erasure leaves behind: a keyed hash of the address, so withdrawal keeps working.

    id = fields.IntField(primary_key=True)
    address_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(ConsentState, max_length=9, default=ConsentState.WITHDRAWN)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The refusal is the recipient's own (consent page, erasure): a CRM user's GRANTED
    # cannot lift it; only the recipient's own grant or an administrator with proof can.
    by_recipient = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "mb_consent_suppression"


class ConsentFormUse(Model):
    # A consent form that was used: its nonce is unique, so one form records one choice,
    # whatever the number of concurrent POSTs (the insert is the atomic check).

    id = fields.IntField(primary_key=True)
    nonce = fields.CharField(max_length=32, unique=True)
    used_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "mb_consent_form_use"


class ConsentLinkMail(Model):
    # A personal link mailed at a visitor's request from a shared message's page: one per
    # address and day (the unique key is the atomic rate limit; see consent.message_link).

    id = fields.IntField(primary_key=True)
    address_hash = fields.CharField(max_length=64)
    day = fields.IntField()  # days since the epoch, UTC
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "mb_consent_link_mail"
        unique_together = (("address_hash", "day"),)
