"""Tracked mail leaves from the user's own mailbox, with a clean copy in its Sent folder."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from plugin.errors import MailboxError
from plugin.hooks import HostDelivery, registry
from plugin.mailboxes.transport import CredentialsUnreadable, user_mailbox
from plugin.sending.delivery import PermanentDeliveryError
from plugin.sending.models import EmailStatus
from plugin.sending.transport import route_for
from tests.mailboxes.test_connect import connect, imap_url, smtp_url
from tests.sending.helpers import email_status, parse, parts, send

HTML = '<p>Hi, see <a href="https://example.com/offer">our offer</a></p>'


async def sent_copies(
    dovecot: Any, user: str, match: Callable[[Any], bool]
) -> list[tuple[Any, str]]:
    """Wait (bounded) until ``user``'s Sent folder holds a message that ``match``es; all of them.

    Tests pick their copies by content, not by position: the dovecot accounts are shared by
    the module's tests, and maildir file names do not sort in arrival order.
    """
    for _ in range(400):
        found = [(m, flags) for m, flags in dovecot.messages(user, "Sent") if match(m)]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching message in {user}'s Sent folder")


async def envelopes_of(smtp: Any, login: str, count: int = 1) -> list[Any]:
    for _ in range(400):
        found = [e for e in smtp.envelopes if e.login == login]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(found)} message(s) sent as {login}")


async def test_tracked_mail_leaves_from_the_users_mailbox_with_a_clean_sent_copy(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any, smtp_server: Any, server: str
) -> None:
    ann = await make_user(name="Ann")
    assert (await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port),
                          imapUrl=imap_url(dovecot.port)))["errors"] == []
    payload = await send(gql, ann, to=["prospect@example.org"], html=HTML,
                         bcc=["boss@example.org"], trackOpens=True, trackLinks=True)
    assert payload["errors"] == []
    email = await email_status(payload["email"]["id"], EmailStatus.SENT, EmailStatus.FAILED)
    assert email.status == EmailStatus.SENT, email.error

    [envelope] = [e for e in await envelopes_of(auth_smtp, "ann")
                  if "prospect@example.org" in e.rcpt_tos]
    assert envelope.mail_from == ann.email
    assert not [e for e in smtp_server.envelopes if e.mail_from == ann.email]
    wire = parse(envelope)
    assert ann.email in wire["From"]
    _, wire_html = parts(wire)
    assert "/t/o/" in wire_html and "/t/c/" in wire_html  # the recipients' copy is tracked

    [(copy, flags)] = await sent_copies(
        dovecot, "ann", lambda m: m["Message-ID"] == wire["Message-ID"]
    )
    assert "S" in flags  # \Seen
    assert copy["Message-ID"] == wire["Message-ID"]
    assert ann.email in copy["From"]
    assert copy["Bcc"] == "boss@example.org"
    text, html = parts(copy)
    assert 'href="https://example.com/offer"' in html
    # No pixel, no tracked link, no honeypot: nothing that points at the tracking domain.
    assert server not in html and server not in text
    assert "/t/o/" not in html and "/t/c/" not in html


async def test_two_users_each_through_their_own_account(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any, smtp_server: Any
) -> None:
    ann, bob, carl = await make_user(), await make_user(), await make_user()
    for user, login in ((ann, "ann"), (bob, "bob")):
        assert (await connect(gql, user, smtpUrl=smtp_url(auth_smtp.port, login),
                              imapUrl=imap_url(dovecot.port, login)))["errors"] == []
    emails = {}
    for user in (ann, bob, carl):
        payload = await send(gql, user, to=[f"for-{user.id}@example.org"], html=HTML,
                             subject=f"from {user.id}")
        emails[user.id] = payload["email"]["id"]
    for email_id in emails.values():
        assert (await email_status(email_id, EmailStatus.SENT, EmailStatus.FAILED)).status \
            == EmailStatus.SENT
    for user, login in ((ann, "ann"), (bob, "bob")):
        mine = [e for e in auth_smtp.envelopes if f"for-{user.id}@example.org" in e.rcpt_tos]
        assert [(e.login, e.mail_from) for e in mine] == [(login, user.email)]
    # A user without a mailbox keeps the server-wide transport.
    assert [e.mail_from for e in smtp_server.envelopes
            if f"for-{carl.id}@example.org" in e.rcpt_tos] == [carl.email]
    assert not [e for e in auth_smtp.envelopes if f"for-{carl.id}@example.org" in e.rcpt_tos]
    assert len(await sent_copies(dovecot, "bob", lambda m: m["Subject"] == f"from {bob.id}")) == 1
    others = {f"from {ann.id}", f"from {carl.id}"}
    assert not [m for m, _ in dovecot.messages("bob", "Sent") if m["Subject"] in others]


async def test_a_per_recipient_send_files_one_sent_copy(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any
) -> None:
    bob = await make_user()
    assert (await connect(gql, bob, smtpUrl=smtp_url(auth_smtp.port, "bob"),
                          imapUrl=imap_url(dovecot.port, "bob")))["errors"] == []
    subject = f"each alone {bob.id}"
    payload = await send(gql, bob, to=["one@example.org", "two@example.org"], html=HTML,
                         trackOpens=True, trackPerRecipient=True, subject=subject)
    email = await email_status(payload["email"]["id"], EmailStatus.SENT, EmailStatus.FAILED)
    assert email.status == EmailStatus.SENT
    await sent_copies(dovecot, "bob", lambda m: m["Subject"] == subject)
    await asyncio.sleep(0.5)  # room for a second (wrong) copy to arrive
    filed = [m for m, _ in dovecot.messages("bob", "Sent") if m["Subject"] == subject]
    assert len(filed) == 1
    assert "one@example.org" in filed[0]["To"] and "two@example.org" in filed[0]["To"]


async def test_a_host_transport_wins(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any, smtp_server: Any
) -> None:
    ann = await make_user()
    assert (await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port),
                          imapUrl=imap_url(dovecot.port)))["errors"] == []
    handed: list[HostDelivery] = []

    async def host_delivers(delivery: HostDelivery) -> dict[str, str]:
        handed.append(delivery)
        return {"gone@example.org": "550 no such user"}

    with registry.registered("deliver_message", host_delivers):
        payload = await send(gql, ann, to=["host@example.org", "gone@example.org"],
                             html=HTML, trackOpens=True, trackLinks=True)
        email = await email_status(payload["email"]["id"], EmailStatus.SENT, EmailStatus.FAILED)
    assert email.status == EmailStatus.SENT
    assert "gone@example.org" in (email.error or "")
    [delivery] = handed
    assert delivery.user.id == ann.id and delivery.sender == ann.email
    assert sorted(delivery.recipients) == ["gone@example.org", "host@example.org"]
    assert "/t/o/" in parts(delivery.message)[1]
    assert "/t/o/" not in parts(delivery.sent_copy)[1]
    assert not [e for e in auth_smtp.envelopes if "host@example.org" in e.rcpt_tos]
    assert not [e for e in smtp_server.envelopes if "host@example.org" in e.rcpt_tos]


async def test_key_rotation_keeps_mailboxes_readable(
    gql: Any, make_user: Any, auth_smtp: Any, settings: Any
) -> None:
    ann = await make_user()
    assert (await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port)))["errors"] == []
    current = settings.secret_keys[0]
    rotated = dataclasses.replace(settings, secret_keys=("n" * 48, current))
    mailbox = await user_mailbox(ann.id, rotated)
    assert mailbox is not None and mailbox.smtp.port == auth_smtp.port
    assert mailbox.smtp.username == "ann"
    # Once the old key is dropped, the mailbox says so instead of sending from elsewhere.
    dropped = dataclasses.replace(settings, secret_keys=("n" * 48,))
    with pytest.raises(CredentialsUnreadable):
        await user_mailbox(ann.id, dropped)
    from plugin.accounts.models import User

    with pytest.raises(PermanentDeliveryError, match="connect the mailbox again"):
        await route_for(await User.get(id=ann.id), dropped)


async def test_a_mailbox_error_never_shows_the_password(auth_smtp: Any) -> None:
    from plugin.mailboxes.smtp_check import check_smtp
    from plugin.mailboxes.urls import parse_smtp_url

    server = parse_smtp_url(smtp_url(auth_smtp.port, password="not-the-password"))
    with pytest.raises(MailboxError) as caught:
        await check_smtp(server)
    assert "not-the-password" not in str(caught.value) + repr(server)
