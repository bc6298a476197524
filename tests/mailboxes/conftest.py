"""A private dovecot and an SMTP server requiring AUTH, shared by this folder's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailboxes.servers import AuthSmtp, Dovecot

ACCOUNTS = {"ann": "ann-secret-1", "bob": "bob-secret-2"}


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    for name, password in ACCOUNTS.items():
        server.add_user(name, password)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_smtp() -> Iterator[AuthSmtp]:
    server = AuthSmtp(accounts=dict(ACCOUNTS))
    server.start()
    yield server
    server.stop()
