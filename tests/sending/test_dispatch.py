"""The send actor's rules: at most once per copy, whatever is redelivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.sending.dispatch import deliver_copy
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.tracking.tokens import new_public_id
from tests.sending.helpers import email_status, mail_from, send


async def test_redelivered_job_of_a_sent_copy_sends_nothing(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["a@example.com"], html="<p>once</p>")
    email = await email_status(payload["email"]["id"], EmailStatus.SENT)
    (copy,) = await EmailCopy.filter(email_id=email.id)
    assert await deliver_copy(copy.id, settings) is None
    assert len(await mail_from(smtp_server, user.email)) == 1
    assert (await EmailCopy.get(id=copy.id)).attempts == 1


async def _sending_copy(user_id: int, claimed_at: datetime) -> EmailCopy:
    email = await SentEmail.create(user_id=user_id, subject="s", to_addresses=["a@example.com"],
                                   html="<p>x</p>", status=EmailStatus.SENDING)
    return await EmailCopy.create(email_id=email.id, public_id=new_public_id().hex(),
                                  envelope_to=["a@example.com"], status=EmailStatus.SENDING,
                                  attempts=1, claimed_at=claimed_at, message_id="<m@x.test>")


async def test_copy_interrupted_mid_send_fails_instead_of_sending_twice(
    make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    copy = await _sending_copy(user.id, datetime.now(UTC) - timedelta(hours=1))
    assert await deliver_copy(copy.id, settings) == EmailStatus.FAILED
    email = await SentEmail.get(id=copy.email_id)  # type: ignore[attr-defined]
    assert email.status == EmailStatus.FAILED and "interrupted" in (email.error or "")
    assert not [e for e in smtp_server.envelopes if e.mail_from == user.email]


async def test_copy_claimed_by_another_worker_is_left_alone(
    make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    copy = await _sending_copy(user.id, datetime.now(UTC))
    assert await deliver_copy(copy.id, settings) is None
    assert (await EmailCopy.get(id=copy.id)).status == EmailStatus.SENDING


async def test_unknown_copy_is_ignored(server: Any, settings: Any) -> None:
    assert await deliver_copy(2**31 - 1, settings) is None
