"""A mailbox over TLS (smtps, imaps) with a certificate the machine trusts."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mailboxes.conftest import ACCOUNTS
from tests.mailboxes.servers import AuthSmtp, Dovecot
from tests.mailboxes.test_connect import connect, imap_url, smtp_url
from tests.mailboxes.tls import self_signed


@pytest.fixture(scope="module")
def tls_servers() -> Iterator[tuple[AuthSmtp, Dovecot, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="mbtls"))
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    smtp = AuthSmtp(accounts=dict(ACCOUNTS), tls=context)
    imap = Dovecot(certificate=(cert, key))
    imap.add_user("ann", ACCOUNTS["ann"])
    smtp.start()
    try:
        imap.start()
        yield smtp, imap, cert
    finally:
        imap.stop()
        smtp.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the key and certificate of this run


async def test_a_mailbox_over_tls(
    gql: Any, make_user: Any, tls_servers: tuple[AuthSmtp, Dovecot, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp, imap, cert = tls_servers
    ann = await make_user()
    # Not trusted yet: a self-signed certificate is a TLS failure, whatever the password.
    refused = await connect(gql, ann, smtpUrl=smtp_url(smtp.port, scheme="smtps"))
    assert [e["code"] for e in refused["errors"]] == ["MAILBOX_TLS_FAILED"]
    # Trusted (OpenSSL reads SSL_CERT_FILE for the default verify paths): it connects,
    # and a non-loopback-only scheme is what it takes.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    payload = await connect(gql, ann, smtpUrl=smtp_url(smtp.port, scheme="smtps"),
                            imapUrl=imap_url(imap.tls_port, scheme="imaps"))
    assert payload["errors"] == []
    assert payload["mailbox"]["sentFolder"] == "Sent"
