"""A mailbox is read, replaced and deleted by its owner's id only."""

from __future__ import annotations

from datetime import UTC, datetime

from plugin.mailboxes import repository
from plugin.mailboxes.models import Mailbox
from tests.conftest import UserFactory


async def test_another_user_neither_sees_nor_removes_the_owners_mailbox(
    make_user: UserFactory,
) -> None:
    owner, intruder = await make_user(), await make_user()

    async def connect(user_id: int, address: str) -> Mailbox:
        return await repository.replace_mailbox(
            user_id, address=address, smtp_host="smtp.example.com:465", imap_host=None,
            sent_folder=None, smtp_url_secret="sealed", imap_url_secret=None,
            verified_at=datetime.now(UTC),
        )

    mailbox = await connect(owner.id, owner.email)

    assert await repository.mailbox_of(intruder.id) is None
    assert await repository.delete_mailbox(intruder.id) == 0
    # The intruder's own replace leaves the owner's mailbox in place.
    await connect(intruder.id, intruder.email)
    found = await repository.mailbox_of(owner.id)
    assert found is not None and found.id == mailbox.id and found.address == owner.email
    assert await repository.delete_mailbox(owner.id) == 1
