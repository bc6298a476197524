"""Sent emails are found by their owner's id only: another user's email id or key finds nothing."""

from __future__ import annotations

from plugin.sending.models import SentEmail
from plugin.sending.repository import (
    EmailFilter,
    email_by_idempotency_key,
    get_email,
    list_emails,
)
from tests.conftest import UserFactory
from tests.live.factories import make_email


async def test_another_users_email_id_and_idempotency_key_find_nothing(
    make_user: UserFactory,
) -> None:
    owner, intruder = await make_user(), await make_user()
    email = await make_email(owner.id)
    await SentEmail.filter(id=email.id).update(idempotency_key="k-1")

    assert (await get_email(owner.id, email.id)) is not None
    assert await get_email(intruder.id, email.id) is None
    assert await get_email(intruder.id, str(email.id)) is None
    assert (await email_by_idempotency_key(owner.id, "k-1")) is not None
    assert await email_by_idempotency_key(intruder.id, "k-1") is None
    page = await list_emails(intruder.id, EmailFilter(), first=10)
    assert page.emails == [] and page.total_count == 0
