"""Sent emails, the copies that went out, and the links they carry."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model

from plugin.accounts.models import User

__all__ = ["EmailCopy", "EmailStatus", "SentEmail", "TrackedLink"]


class EmailStatus(str, Enum):
    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class SentEmail(Model):
    # One email as the user composed it, with its tracking figures (HUMAN events only).

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sent_emails", on_delete=fields.CASCADE
    )
    subject = fields.TextField()
    to_addresses: fields.Field[list[str]] = fields.JSONField(default=list)
    cc_addresses: fields.Field[list[str]] = fields.JSONField(default=list)
    bcc_addresses: fields.Field[list[str]] = fields.JSONField(default=list)
    # Lower-cased subject and addresses, for the Mail tab's text search.
    search_text = fields.TextField(default="")
    html = fields.TextField(null=True)
    text = fields.TextField(null=True)
    status = fields.CharEnumField(EmailStatus, max_length=8, default=EmailStatus.QUEUED)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    message_id = fields.CharField(max_length=255, null=True)
    error = fields.TextField(null=True)
    track_opens = fields.BooleanField(default=False)
    track_links = fields.BooleanField(default=False)
    track_per_recipient = fields.BooleanField(default=False)
    decision_reasons: fields.Field[list[str]] = fields.JSONField(default=list)
    idempotency_key = fields.CharField(max_length=200, null=True)
    # When the clean copy went to the sender's Sent folder (claimed once per email, so a
    # per-recipient send files one copy, never one per recipient).
    sent_copy_filed_at = fields.DatetimeField(null=True)
    open_count = fields.IntField(default=0)
    first_opened_at = fields.DatetimeField(null=True)
    last_opened_at = fields.DatetimeField(null=True)
    click_count = fields.IntField(default=0)
    first_clicked_at = fields.DatetimeField(null=True)
    last_clicked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mb_sent_email"
        unique_together = (("user", "idempotency_key"),)
        indexes = (("user_id", "created_at"),)

    @property
    def tracked(self) -> bool:
        return self.track_opens or self.track_links


class EmailCopy(Model):
    # A message that went on the wire: the only copy, or one per recipient.

    id = fields.IntField(primary_key=True)
    email: fields.ForeignKeyRelation[SentEmail] = fields.ForeignKeyField(
        "models.SentEmail", related_name="copies", on_delete=fields.CASCADE
    )
    # Random identifier carried (signed) in tracking tokens; never a database id.
    public_id = fields.CharField(max_length=24, unique=True)
    # Set only for per-recipient copies: the normalized address this copy went to.
    recipient = fields.CharField(max_length=254, null=True, db_index=True)
    envelope_to: fields.Field[list[str]] = fields.JSONField(default=list)
    track_opens = fields.BooleanField(default=False)
    track_links = fields.BooleanField(default=False)
    status = fields.CharEnumField(EmailStatus, max_length=8, default=EmailStatus.QUEUED)
    message_id = fields.CharField(max_length=255, null=True)
    attempts = fields.IntField(default=0)
    # When a worker last claimed the copy for delivery (QUEUED -> SENDING): a copy left
    # SENDING longer than the claim lease was interrupted mid-send (see plugin.sending.send_job).
    claimed_at = fields.DatetimeField(null=True)
    # When this claim's worker handed the copy to the SMTP pool (committed before the first
    # byte of its envelope goes out; cleared by every claim). A claim whose lease ran out
    # without it never reached a server, so it is retried; one with it may have: not resent.
    handed_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    # While QUEUED: when its next delivery attempt is due (a sweep re-enqueues a copy whose
    # job was lost, e.g. by a restart of the embedded queue, once this is well past).
    next_attempt_at = fields.DatetimeField(null=True)
    # Set at the first temporary failure: temporary failures after this end the copy FAILED.
    retry_until = fields.DatetimeField(null=True)
    # When the SMTP server accepted the message: the scanner window starts here.
    accepted_at = fields.DatetimeField(null=True)
    # When a recipient stopped the tracking of this copy (its message-level consent link):
    # hits on it are no longer recorded.
    tracking_stopped_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mb_email_copy"
        indexes = (("status", "next_attempt_at"),)


class TrackedLink(Model):
    # A distinct destination of an email; its position is the link index in click tokens.

    id = fields.IntField(primary_key=True)
    email: fields.ForeignKeyRelation[SentEmail] = fields.ForeignKeyField(
        "models.SentEmail", related_name="links", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    url = fields.TextField()
    click_count = fields.IntField(default=0)
    first_clicked_at = fields.DatetimeField(null=True)
    last_clicked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mb_tracked_link"
        unique_together = (("email", "position"),)
