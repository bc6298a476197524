"""Keys of the consent module: keyed address hashes, signed page links and form tokens.

Links come in two kinds (DESIGN.md, consent): a *personal* link names one recipient and
may record that recipient's choice, so it only goes into mail to that recipient alone;
a *message* link names the copy of a shared message and may only stop its tracking or
mail a recipient its personal link. Both expire (``consent_link_days``).

Every key is derived from the configured secret keys (newest first) with a label
of its own, so a consent link can never pass for a tracking token or a form
token and vice versa. The newest key signs and hashes; every key verifies
(rotation). MACs are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache

from consent.jurisdiction import normalize_address
from plugin.settings import Settings

__all__ = ["FORM_MAX_AGE_SECONDS", "ConsentKeys", "FormToken", "LinkClaim", "LinkKind", "keys_for"]

#: How long a consent form stays valid after the page was shown.
FORM_MAX_AGE_SECONDS = 3600
# Version 2 links name their kind and carry an expiry; version 1 links (a recipient, no
# expiry, put into shared messages where co-recipients could use them) are refused.
_LINK_VERSION = 2
_MAX_EXPIRY = 2**32 - 1
_MAC_LEN = 16
_MAX_LINK_LEN = 1024
_LINK_LABEL = b"mailbeacon/consent-link/v2"
_FORM_LABEL = b"mailbeacon/consent-form/v1"
_HASH_LABEL = b"mailbeacon/consent-suppression/v1"
_B64_RE = re.compile(r"[A-Za-z0-9_-]+")
_FORM_RE = re.compile(r"([0-9]{1,20})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})")
_NONCE_BYTES = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if len(text) % 4 == 1 or _B64_RE.fullmatch(text) is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Canonical encodings only: one string per token.
    return raw if _b64(raw) == text else None


class LinkKind(Enum):
    PERSONAL = 1  # names a recipient: may record that recipient's choice
    MESSAGE = 2  # names a shared message's copy: may stop it, and mail personal links


_KINDS = frozenset(kind.value for kind in LinkKind)


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """A verified link: its kind, what it names (a normalized address for a personal link,
    the copy's public id for a message link), and until when it may be used."""

    kind: LinkKind
    subject: str
    expires_at: int
    expired: bool


@dataclass(frozen=True, slots=True)
class FormToken:
    """A verified consent form: whose, for what, when the page issued it, and its nonce
    (spent when the form is used: one form records one choice)."""

    recipient: str
    action: str
    issued_at: datetime
    nonce: str


class ConsentKeys:
    """Derived keys of the consent module; ``secrets`` newest first."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if isinstance(secrets, str) or not secrets or not all(secrets):
            raise ValueError("at least one non-empty secret key is required, newest first")
        raw = [s.encode("utf-8") for s in secrets]
        self._link = [hmac.digest(k, _LINK_LABEL, "sha256") for k in raw]
        self._form = [hmac.digest(k, _FORM_LABEL, "sha256") for k in raw]
        self._hash = [hmac.digest(k, _HASH_LABEL, "sha256") for k in raw]

    # -- keyed address hashes (suppression entries) --------------------------------

    def address_hash(self, email: str) -> str:
        """The keyed hash (hex) of the normalized address under the newest key."""
        return self.address_hashes(email)[0]

    def address_hashes(self, email: str) -> list[str]:
        """The address's hash under every key, newest first (lookups across rotation)."""
        data = normalize_address(email).encode("utf-8", "surrogatepass")
        return [hmac.new(key, data, hashlib.sha256).hexdigest() for key in self._hash]

    # -- links to the consent page -------------------------------------------------

    def sign_personal_link(self, email: str, *, expires_at: float) -> str:
        """A link token naming one recipient: it may record that recipient's choice, so it
        goes only into mail addressed to that recipient alone."""
        payload = normalize_address(email).encode("utf-8", "surrogatepass")
        return self._sign_link(LinkKind.PERSONAL, payload, expires_at)

    def sign_message_link(self, public_id: str, *, expires_at: float) -> str:
        """A link token naming one copy of a shared message (its public id, hex): it may
        only stop that message's tracking and mail a recipient its personal link."""
        return self._sign_link(LinkKind.MESSAGE, bytes.fromhex(public_id), expires_at)

    def _sign_link(self, kind: LinkKind, payload: bytes, expires_at: float) -> str:
        expiry = max(0, min(int(expires_at), _MAX_EXPIRY)).to_bytes(4, "big")
        body = bytes((_LINK_VERSION, kind.value)) + expiry + payload
        return _b64(body + hmac.digest(self._link[0], body, "sha256")[:_MAC_LEN])

    def verify_link(self, token: str, *, now: float | None = None) -> LinkClaim | None:
        """What an authentic link token names (expired or not: ``LinkClaim.expired``), or
        None if it is not authentic or of an older version. Never raises."""
        if not isinstance(token, str) or not 0 < len(token) <= _MAX_LINK_LEN:
            return None
        raw = _unb64(token)
        if raw is None or len(raw) < 7 + _MAC_LEN or raw[0] != _LINK_VERSION:
            return None
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        # Try every key (no short-circuit on the comparison itself).
        ok = False
        for key in self._link:
            ok |= hmac.compare_digest(hmac.digest(key, body, "sha256")[:_MAC_LEN], mac)
        if not ok or body[1] not in _KINDS:
            return None
        kind = LinkKind(body[1])
        expires_at = int.from_bytes(body[2:6], "big")
        payload = body[6:]
        try:
            subject = payload.decode("utf-8") if kind is LinkKind.PERSONAL else payload.hex()
        except UnicodeDecodeError:
            return None
        expired = (time.time() if now is None else now) >= expires_at
        return LinkClaim(kind=kind, subject=subject, expires_at=expires_at, expired=expired)

    # -- the hidden field of the consent form --------------------------------------

    def _form_mac(
        self, key: bytes, recipient: str, action: str, issued_us: int, nonce: str
    ) -> bytes:
        message = f"{recipient}\n{action}\n{issued_us}\n{nonce}".encode("utf-8", "surrogatepass")
        return hmac.digest(key, message, "sha256")[:_MAC_LEN]

    def sign_form(self, email: str, action: str, *, now: float | None = None) -> str:
        """A form token: ``<issue time in microseconds>.<random nonce>.<MAC over recipient,
        action, time and nonce>``."""
        issued_us = int((time.time() if now is None else now) * 1_000_000)
        nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
        mac = self._form_mac(self._form[0], normalize_address(email), action, issued_us, nonce)
        return f"{issued_us}.{nonce}.{_b64(mac)}"

    def verify_form(
        self, token: str, email: str, action: str, *, now: float | None = None
    ) -> FormToken | None:
        """The form token's content if authentic for this recipient and action and not
        older than :data:`FORM_MAX_AGE_SECONDS` (nor from the future); else None."""
        if not isinstance(token, str) or len(token) > 80:
            return None
        match = _FORM_RE.fullmatch(token)
        mac = _unb64(match.group(3)) if match else None
        if match is None or mac is None or _unb64(match.group(2)) is None:
            return None
        issued_us, nonce = int(match.group(1)), match.group(2)
        recipient = normalize_address(email)
        ok = False
        for key in self._form:
            ok |= hmac.compare_digest(
                self._form_mac(key, recipient, action, issued_us, nonce), mac
            )
        if not ok:
            return None
        age = (time.time() if now is None else now) - issued_us / 1_000_000
        if not -60 <= age <= FORM_MAX_AGE_SECONDS:
            return None
        issued_at = _EPOCH + timedelta(microseconds=issued_us)
        return FormToken(recipient=recipient, action=action, issued_at=issued_at, nonce=nonce)


@cache
def keys_for(settings: Settings) -> ConsentKeys:
    """The process's consent keys, derived once per settings."""
    return ConsentKeys(settings.secret_keys)
