"""A user's connected mailbox. Its server URLs (with credentials) are stored encrypted only."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

__all__ = ["Mailbox"]


class Mailbox(Model):
    id = fields.IntField(primary_key=True)
    # One per user, erased with the user.
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="mailbox", on_delete=fields.CASCADE
    )
    address = fields.CharField(max_length=254)
    # What the user may be shown: the servers' host:port, never the credentials.
    smtp_host = fields.CharField(max_length=300)
    imap_host = fields.CharField(max_length=300, null=True)
    sent_folder = fields.CharField(max_length=300, null=True)
    # Fernet tokens (plugin.mailboxes.crypto) of the full server URLs, user:password included.
    smtp_url_secret = fields.TextField()
    imap_url_secret = fields.TextField(null=True)
    verified_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mb_mailbox"

    def __repr__(self) -> str:  # never the secrets, whatever prints it
        return f"<Mailbox {self.id} of user {self.user_id}>"  # type: ignore[attr-defined]
