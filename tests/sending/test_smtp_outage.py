"""The mail server goes down and comes back: every copy waits (QUEUED/SENDING), then goes once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.sending.recovery import LOST_AFTER, recover_lost_copies
from plugin.sending.send_job import deliver_copy, retry_delay
from plugin.settings import load_settings
from plugin.tracking.edge.tokens import new_public_id
from tests.conftest import free_port
from tests.sending.helpers import email_status, mail_from, send

WAITING = (EmailStatus.QUEUED, EmailStatus.SENDING)


async def _wait_for_attempts(email_id: int, attempts: int, timeout: float = 30) -> None:
    """Wait (bounded) until every copy was tried ``attempts`` times; none may fail meanwhile."""
    for _ in range(int(timeout / 0.05)):
        copies = await EmailCopy.filter(email_id=email_id)
        email = await SentEmail.get(id=email_id)
        assert email.status in WAITING, (email.status, email.error)
        assert all(c.status in WAITING for c in copies), [(c.status, c.error) for c in copies]
        if all(c.attempts >= attempts for c in copies):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"copies were not retried {attempts} times: {copies}")


async def test_server_down_then_back_sends_every_copy_once(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    recipients = [f"r{i}@example.com" for i in range(5)]
    smtp_server.stop()  # also drops the sessions the worker's pool holds open
    try:
        payload = await send(gql, user, to=recipients, html="<p>outage</p>",
                             trackPerRecipient=True)
        email_id = int(payload["email"]["id"])
        await _wait_for_attempts(email_id, 3)
        for copy in await EmailCopy.filter(email_id=email_id):
            assert copy.status in WAITING and copy.retry_until is not None
            assert "127.0.0.1" in (copy.error or "")  # the reason of the last failure is kept
    finally:
        smtp_server.start()
    await email_status(email_id, EmailStatus.SENT, timeout=30)
    envelopes = await mail_from(smtp_server, user.email, count=len(recipients))
    assert sorted(r for e in envelopes for r in e.rcpt_tos) == recipients  # each exactly once
    for copy in await EmailCopy.filter(email_id=email_id):
        assert copy.status == EmailStatus.SENT and copy.error is None and copy.attempts >= 3


async def _failing_copy(user_id: int) -> EmailCopy:
    email = await SentEmail.create(user_id=user_id, subject="s", to_addresses=["a@example.com"],
                                   html="<p>x</p>")
    return await EmailCopy.create(email_id=email.id, public_id=new_public_id().hex(),
                                  envelope_to=["a@example.com"], message_id="<m@x.test>")


async def test_a_temporary_failure_waits_queued_until_the_give_up_time(
    make_user: Any, settings: Any, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}",
                                      send_retry_seconds=(3600.0,))  # no retry during the test
    user = await make_user()
    copy = await _failing_copy(user.id)
    before = datetime.now(UTC)
    with caplog.at_level(logging.WARNING, logger="plugin.sending.send_job"):
        assert await deliver_copy(copy.id, unreachable) == EmailStatus.QUEUED
    # The log says when the next attempt is (the schedule's 3600 s, jittered down), not
    # only how long the failed one took.
    [line] = [r.getMessage() for r in caplog.records if f"copy {copy.id} " in r.getMessage()]
    found = re.search(r"failed for now in \d+ ms, next attempt in (\d+) s: ", line)
    assert found and 2880 <= int(found.group(1)) <= 3600, line
    waiting = await EmailCopy.get(id=copy.id)
    assert waiting.status == EmailStatus.QUEUED and waiting.attempts == 1
    assert waiting.retry_until is not None and waiting.next_attempt_at is not None
    assert waiting.retry_until >= before + timedelta(hours=settings.send_give_up_hours)
    assert waiting.next_attempt_at > before and "Connect" in (waiting.error or "")
    assert (await SentEmail.get(id=copy.email_id)).status == EmailStatus.SENDING  # type: ignore[attr-defined]

    # Past the give-up time, the next temporary failure is the last one.
    await EmailCopy.filter(id=copy.id).update(retry_until=datetime.now(UTC) - timedelta(seconds=1))
    assert await deliver_copy(copy.id, unreachable) == EmailStatus.FAILED
    email = await SentEmail.get(id=copy.email_id)  # type: ignore[attr-defined]
    assert email.status == EmailStatus.FAILED and "gave up after 2 attempts" in (email.error or "")


def test_default_schedule_retries_at_least_once_a_minute_for_at_least_an_hour() -> None:
    defaults = load_settings({"MAILBEACON_ENV": "test", "MAILBEACON_SECRET_KEY": "k" * 40})
    assert defaults.send_give_up_hours >= 1
    assert all(0 < retry_delay(defaults, attempts) <= 60 for attempts in range(1, 500))


async def test_sweep_enqueues_lost_copies_and_fails_interrupted_ones(
    make_user: Any, smtp_server: Any, server: Any, settings: Any
) -> None:
    user = await make_user()
    lost = await _failing_copy(user.id)
    await EmailCopy.filter(id=lost.id).update(
        next_attempt_at=datetime.now(UTC) - LOST_AFTER - timedelta(minutes=1))
    interrupted = await _failing_copy(user.id)
    await EmailCopy.filter(id=interrupted.id).update(
        status=EmailStatus.SENDING, attempts=1, claimed_at=datetime.now(UTC) - timedelta(hours=1),
        handed_at=datetime.now(UTC) - timedelta(hours=1))  # handed to SMTP, then died
    requeued, failed = await recover_lost_copies(settings)
    assert requeued >= 1 and failed >= 1
    await email_status(lost.email_id, EmailStatus.SENT)  # type: ignore[attr-defined]
    assert len(await mail_from(smtp_server, user.email)) == 1
    gone = await SentEmail.get(id=interrupted.email_id)  # type: ignore[attr-defined]
    assert gone.status == EmailStatus.FAILED and "interrupted" in (gone.error or "")
