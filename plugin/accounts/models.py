"""Users and API tokens. Tokens are stored as SHA-256 hashes only."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

__all__ = ["ApiToken", "User"]


class User(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200, null=True)
    is_admin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mb_user"

    def __str__(self) -> str:
        return self.email


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    # SHA-256 of the whole token: tokens carry 256 random bits, so a fast hash is enough.
    token_hash = fields.CharField(max_length=64, unique=True)
    # The first characters of the token, shown in listings so a user can tell tokens apart.
    prefix = fields.CharField(max_length=12)
    label = fields.CharField(max_length=100, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mb_api_token"
