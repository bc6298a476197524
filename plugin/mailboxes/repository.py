"""Every query of mailboxes: one per user, always read and written by its owner's id."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from plugin.mailboxes.models import Mailbox

__all__ = ["delete_mailbox", "mailbox_of", "replace_mailbox"]


async def mailbox_of(owner_id: int) -> Mailbox | None:
    return await Mailbox.get_or_none(user_id=owner_id)


async def replace_mailbox(
    owner_id: int,
    *,
    address: str,
    smtp_host: str,
    imap_host: str | None,
    sent_folder: str | None,
    smtp_url_secret: str,
    imap_url_secret: str | None,
    verified_at: datetime,
) -> Mailbox:
    """Store the owner's mailbox in place of the one it had (in one transaction)."""
    async with in_transaction():
        await Mailbox.filter(user_id=owner_id).delete()
        return await Mailbox.create(
            user_id=owner_id, address=address, smtp_host=smtp_host, imap_host=imap_host,
            sent_folder=sent_folder, smtp_url_secret=smtp_url_secret,
            imap_url_secret=imap_url_secret, verified_at=verified_at,
        )


async def delete_mailbox(owner_id: int) -> int:
    """Forget the owner's mailbox; how many rows went (0 or 1)."""
    return await Mailbox.filter(user_id=owner_id).delete()
