"""Mailbox credentials at rest: Fernet with keys derived from the secret keys.

The current ``MAILBEACON_SECRET_KEY`` encrypts; it and every
``MAILBEACON_PREVIOUS_SECRET_KEYS`` decrypt (MultiFernet), so a key rotation
keeps connected mailboxes working. Each Fernet key is HKDF-SHA256 of a secret
key with its own ``info``, so it is never the key that signs tracking tokens.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["CredentialsUnreadable", "decrypt", "encrypt"]

_INFO = b"mailbeacon mailbox credentials v1"


class CredentialsUnreadable(Exception):
    """No current or previous secret key decrypts the stored credentials."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys(secret_keys: Sequence[str]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in secret_keys])


def encrypt(plaintext: str, secret_keys: Sequence[str]) -> str:
    """Encrypt with the newest key (the first)."""
    return _keys(secret_keys).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, secret_keys: Sequence[str]) -> str:
    try:
        return _keys(secret_keys).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise CredentialsUnreadable(
            "the mailbox's credentials were encrypted with a key that is no longer configured"
        ) from None
