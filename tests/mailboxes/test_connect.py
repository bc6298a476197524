"""connectMailbox, mailbox and disconnectMailbox against real servers (dovecot, aiosmtpd)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from plugin.mailboxes.models import Mailbox
from tests.conftest import free_port
from tests.mailboxes.conftest import ACCOUNTS

CONNECT = """
mutation($input: ConnectMailboxInput!) {
  connectMailbox(input: $input) {
    mailbox { address smtpHost imapHost sentFolder verifiedAt }
    errors { field code message }
  }
}
"""
MAILBOX = "{ mailbox { address smtpHost imapHost sentFolder verifiedAt } }"
DISCONNECT = "mutation { disconnectMailbox }"


def smtp_url(port: int, login: str = "ann", password: str | None = None,
             scheme: str = "smtp") -> str:
    secret = ACCOUNTS.get(login, "x") if password is None else password
    return f"{scheme}://{quote(login)}:{quote(secret, safe='')}@127.0.0.1:{port}"


def imap_url(port: int, login: str = "ann", password: str | None = None,
             scheme: str = "imap") -> str:
    return smtp_url(port, login, password, scheme)


async def connect(gql: Any, user: Any, **fields: Any) -> dict[str, Any]:
    answer = await gql(CONNECT, {"input": fields}, user=user)
    assert "errors" not in answer, answer
    payload: dict[str, Any] = answer["data"]["connectMailbox"]
    return payload


async def test_connecting_verifies_both_servers_and_finds_the_sent_folder(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any
) -> None:
    ann = await make_user()
    payload = await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port),
                            imapUrl=imap_url(dovecot.port))
    assert payload["errors"] == []
    mailbox = payload["mailbox"]
    assert mailbox["address"] == ann.email
    assert mailbox["smtpHost"] == f"127.0.0.1:{auth_smtp.port}"
    assert mailbox["imapHost"] == f"127.0.0.1:{dovecot.port}"
    assert mailbox["sentFolder"] == "Sent"  # found by its \Sent flag
    assert mailbox["verifiedAt"]
    answer = await gql(MAILBOX, user=ann)
    assert answer["data"]["mailbox"] == mailbox
    # The credentials are stored encrypted, and returned by nothing.
    row = await Mailbox.get(user_id=ann.id)
    for secret in (ACCOUNTS["ann"], "ann:"):
        assert secret not in row.smtp_url_secret + str(row.imap_url_secret)
        assert secret not in str(answer) + str(payload)


async def test_address_and_sent_folder_given(
    gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any
) -> None:
    ann = await make_user()
    payload = await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port),
                            imapUrl=imap_url(dovecot.port), sentFolder="INBOX",
                            address="Ann.Sales@Example.com")
    assert payload["errors"] == []
    assert payload["mailbox"]["sentFolder"] == "INBOX"
    assert payload["mailbox"]["address"] == "Ann.Sales@example.com"


async def test_without_imap_there_is_no_sent_copy(
    gql: Any, make_user: Any, auth_smtp: Any
) -> None:
    ann = await make_user()
    payload = await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port))
    assert payload["errors"] == []
    assert payload["mailbox"]["imapHost"] is None
    assert payload["mailbox"]["sentFolder"] is None


async def assert_refused(gql: Any, user: Any, code: str, field: str, **fields: Any) -> None:
    payload = await connect(gql, user, **fields)
    assert payload["mailbox"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], payload
    # Nothing stored, and no password in the message.
    assert (await gql(MAILBOX, user=user))["data"]["mailbox"] is None
    for secret in ACCOUNTS.values():
        assert secret not in payload["errors"][0]["message"]


async def test_a_wrong_password(gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any) -> None:
    ann = await make_user()
    await assert_refused(gql, ann, "MAILBOX_AUTH_FAILED", "smtpUrl",
                         smtpUrl=smtp_url(auth_smtp.port, password="wrong"),
                         imapUrl=imap_url(dovecot.port))
    await assert_refused(gql, ann, "MAILBOX_AUTH_FAILED", "imapUrl",
                         smtpUrl=smtp_url(auth_smtp.port),
                         imapUrl=imap_url(dovecot.port, password="wrong"))


async def test_an_unreachable_server(gql: Any, make_user: Any, dovecot: Any,
                                     auth_smtp: Any) -> None:
    ann = await make_user()
    await assert_refused(gql, ann, "MAILBOX_UNREACHABLE", "smtpUrl",
                         smtpUrl=smtp_url(free_port()))
    await assert_refused(gql, ann, "MAILBOX_UNREACHABLE", "imapUrl",
                         smtpUrl=smtp_url(auth_smtp.port), imapUrl=imap_url(free_port()))


async def test_tls_that_fails(gql: Any, make_user: Any, dovecot: Any, auth_smtp: Any) -> None:
    ann = await make_user()
    # Both test servers speak plain text: a TLS handshake with them fails.
    await assert_refused(gql, ann, "MAILBOX_TLS_FAILED", "smtpUrl",
                         smtpUrl=smtp_url(auth_smtp.port, scheme="smtps"))
    await assert_refused(gql, ann, "MAILBOX_TLS_FAILED", "smtpUrl",
                         smtpUrl=smtp_url(auth_smtp.port, scheme="smtp+starttls"))
    await assert_refused(gql, ann, "MAILBOX_TLS_FAILED", "imapUrl",
                         smtpUrl=smtp_url(auth_smtp.port),
                         imapUrl=imap_url(dovecot.port, scheme="imaps"))


async def test_no_such_sent_folder(gql: Any, make_user: Any, dovecot: Any,
                                   auth_smtp: Any) -> None:
    ann = await make_user()
    await assert_refused(gql, ann, "MAILBOX_NO_SENT_FOLDER", "sentFolder",
                         smtpUrl=smtp_url(auth_smtp.port), imapUrl=imap_url(dovecot.port),
                         sentFolder="Nope")


async def test_plain_text_credentials_only_to_the_loopback_address(
    gql: Any, make_user: Any
) -> None:
    ann = await make_user()
    await assert_refused(gql, ann, "MAILBOX_TLS_REQUIRED", "smtpUrl",
                         smtpUrl="smtp://ann:pw@mail.example.com:25")
    await assert_refused(gql, ann, "MAILBOX_TLS_REQUIRED", "imapUrl",
                         smtpUrl="smtps://ann:pw@mail.example.com",
                         imapUrl="imap://ann:pw@mail.example.com")
    await assert_refused(gql, ann, "INVALID_INPUT", "smtpUrl",
                         smtpUrl="smtps://mail.example.com")  # no credentials
    await assert_refused(gql, ann, "INVALID_INPUT", "smtpUrl", smtpUrl="http://x@y:z")
    await assert_refused(gql, ann, "INVALID_INPUT", "sentFolder",
                         smtpUrl="smtps://ann:pw@mail.example.com", sentFolder="Sent")


async def test_the_mailbox_is_the_callers_own(
    gql: Any, make_user: Any, auth_smtp: Any
) -> None:
    ann, bob = await make_user(), await make_user()
    assert (await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port)))["errors"] == []
    assert (await gql(MAILBOX, user=bob))["data"]["mailbox"] is None
    assert (await gql(DISCONNECT, user=bob))["data"]["disconnectMailbox"] is False
    assert (await gql(MAILBOX, user=ann))["data"]["mailbox"] is not None
    assert (await gql(DISCONNECT, user=ann))["data"]["disconnectMailbox"] is True
    assert (await gql(MAILBOX, user=ann))["data"]["mailbox"] is None
    assert (await gql(DISCONNECT, user=ann))["data"]["disconnectMailbox"] is False
    anonymous = await gql(MAILBOX)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_mailbox_goes_with_its_user(
    gql: Any, make_user: Any, auth_smtp: Any
) -> None:
    from plugin.accounts.models import User

    ann = await make_user()
    assert (await connect(gql, ann, smtpUrl=smtp_url(auth_smtp.port)))["errors"] == []
    await User.filter(id=ann.id).delete()
    assert not await Mailbox.filter(user_id=ann.id).exists()
