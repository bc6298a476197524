"""The send actor's rules: at most once per copy, whatever is redelivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.sending.repository import claim_copies, hand_copies
from plugin.sending.send_job import deliver_copies, deliver_copy, expire_claim
from plugin.sending.smtp_pool import close_pools
from plugin.tracking.edge.tokens import new_public_id
from tests.sending.helpers import email_status, mail_from, parse, parts, send


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
                                  attempts=1, claimed_at=claimed_at, handed_at=claimed_at,
                                  message_id="<m@x.test>")


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


async def _queued_copies(user_id: int, recipients: list[str]) -> list[EmailCopy]:
    """A per-recipient email with one QUEUED copy per recipient (as sendEmail stores it)."""
    email = await SentEmail.create(user_id=user_id, subject="batch", to_addresses=recipients,
                                   html="<p>batch <a href='https://example.com/x'>x</a></p>",
                                   track_per_recipient=True)
    return [
        await EmailCopy.create(email_id=email.id, public_id=new_public_id().hex(),
                               recipient=r, envelope_to=[r], track_opens=True, track_links=True,
                               message_id=f"<m{i}-{email.id}@x.test>")
        for i, r in enumerate(recipients)
    ]


async def test_a_batch_claims_sends_and_records_each_copy_once(
    make_user: Any, smtp_server: Any, settings: Any, pipelining: bool
) -> None:
    user = await make_user()
    recipients = [f"b{i}@example.com" for i in range(6)]
    copies = await _queued_copies(user.id, recipients)
    ids = [c.id for c in copies]
    assert await deliver_copies(ids, settings) == dict.fromkeys(ids, EmailStatus.SENT)
    envelopes = await mail_from(smtp_server, user.email, count=6)
    assert sorted(r for e in envelopes for r in e.rcpt_tos) == recipients
    for copy in await EmailCopy.filter(id__in=ids):
        assert copy.status == EmailStatus.SENT and copy.attempts == 1
        assert copy.accepted_at is not None and copy.error is None
    email = await SentEmail.get(id=copies[0].email_id)  # type: ignore[attr-defined]
    assert email.status == EmailStatus.SENT
    # Each recipient got its own copy (the copy's Message-ID; bodies differ by tracking).
    message_ids = {c.recipient: c.message_id for c in copies}
    assert {e.rcpt_tos[0]: parse(e)["Message-ID"] for e in envelopes} == message_ids
    assert len({parts(parse(e))[1] for e in envelopes}) == 6
    # The job delivered again (a redelivery, a duplicate from the sweep) sends nothing.
    assert await deliver_copies(ids, settings) == dict.fromkeys(ids)
    assert len([e for e in smtp_server.envelopes if e.mail_from == user.email]) == 6


async def test_a_batch_leaves_a_copy_another_worker_holds(
    make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    copies = await _queued_copies(user.id, ["h0@example.com", "h1@example.com"])
    await EmailCopy.filter(id=copies[1].id).update(status=EmailStatus.SENDING, attempts=1,
                                                    claimed_at=datetime.now(UTC))
    statuses = await deliver_copies([c.id for c in copies], settings)
    assert statuses == {copies[0].id: EmailStatus.SENT, copies[1].id: None}
    assert (await EmailCopy.get(id=copies[1].id)).status == EmailStatus.SENDING
    envelopes = await mail_from(smtp_server, user.email)
    assert [e.rcpt_tos for e in envelopes] == [["h0@example.com"]]


@pytest.fixture(params=[False, True], ids=["plain", "pipelining"])
async def pipelining(request: pytest.FixtureRequest, smtp_server: Any) -> AsyncIterator[bool]:
    """The test server advertises PIPELINING or not to this test's new sessions (the
    test loop's pools are closed around it, so that it opens new ones)."""
    await close_pools()
    smtp_server.pipelining = request.param
    try:
        yield request.param
    finally:
        smtp_server.pipelining = False
        await close_pools()


async def test_a_batch_with_refusals_fails_retries_and_sends_each_on_its_own(
    make_user: Any, smtp_server: Any, settings: Any, pipelining: bool
) -> None:
    user = await make_user()
    smtp_server.refuse.update({"gone@example.com": "550 5.1.1 no such user",
                               "full@example.com": "452 4.2.2 mailbox full"})
    try:
        copies = await _queued_copies(
            user.id, ["ok0@example.com", "gone@example.com", "full@example.com",
                      "ok1@example.com"])
        ok0, gone, full, ok1 = (c.id for c in copies)
        statuses = await deliver_copies([ok0, gone, full, ok1], settings)
    finally:
        for address in ("gone@example.com", "full@example.com"):
            smtp_server.refuse.pop(address, None)
    assert statuses == {ok0: EmailStatus.SENT, gone: EmailStatus.FAILED,
                        full: EmailStatus.QUEUED, ok1: EmailStatus.SENT}
    gone_copy, full_copy = await EmailCopy.get(id=gone), await EmailCopy.get(id=full)
    assert "550" in (gone_copy.error or "")
    assert full_copy.retry_until is not None and full_copy.next_attempt_at is not None
    assert "452" in (full_copy.error or "")
    envelopes = await mail_from(smtp_server, user.email, count=2)
    assert sorted(r for e in envelopes for r in e.rcpt_tos)[:2] == ["ok0@example.com",
                                                                    "ok1@example.com"]
    email = await SentEmail.get(id=copies[0].email_id)  # type: ignore[attr-defined]
    assert email.status == EmailStatus.FAILED and "gone@example.com" in (email.error or "")


async def test_two_claims_of_the_same_copies_never_both_win(make_user: Any) -> None:
    user = await make_user()
    copies = await _queued_copies(user.id, ["c0@example.com", "c1@example.com"])
    ids = [c.id for c in copies]
    (first, _), (second, _) = await claim_copies(ids), await claim_copies(ids)
    assert [c.id for c in first] == sorted(ids) and second == []
    stored = await EmailCopy.filter(id__in=ids).order_by("id")
    for copy in stored:
        assert copy.status == EmailStatus.SENDING and copy.attempts == 1
        assert copy.claimed_at is not None and copy.handed_at is None
    # The claim read the copies as it left them (the job builds from these).
    for claimed, copy in zip(first, stored, strict=True):
        assert (claimed.status, claimed.attempts, claimed.claimed_at, claimed.handed_at) == (
            copy.status, copy.attempts, copy.claimed_at, copy.handed_at)
        assert (claimed.envelope_to, claimed.recipient, claimed.track_links) == (
            copy.envelope_to, copy.recipient, copy.track_links)
        assert claimed.email_id == copy.email_id  # type: ignore[attr-defined]


async def test_only_the_live_claim_hands_a_copy_and_only_once(
    make_user: Any, settings: Any, smtp_server: Any
) -> None:
    user = await make_user()
    copies = await _queued_copies(user.id, ["h0@example.com", "h1@example.com"])
    ids = [c.id for c in copies]
    _, claim = await claim_copies(ids)
    # The lease of h1's claim ran out and a sweep put it back (its worker looked dead).
    stale = await EmailCopy.get(id=ids[1])
    assert await expire_claim(stale, datetime.now(UTC), settings) == EmailStatus.QUEUED
    assert await hand_copies(ids, claim) == {ids[0]}  # the slow worker may send h0 only
    assert await hand_copies(ids, claim) == set()  # marked once
    # h1's new job (enqueued by expire_claim) claims, hands and sends it once.
    for _ in range(400):
        h1 = await EmailCopy.get(id=ids[1])
        if h1.status == EmailStatus.SENT:
            break
        await asyncio.sleep(0.05)
    assert h1.status == EmailStatus.SENT and h1.attempts == 2 and h1.handed_at is not None
    assert [e.rcpt_tos for e in await mail_from(smtp_server, user.email)] == [["h1@example.com"]]
