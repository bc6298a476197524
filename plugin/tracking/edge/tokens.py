"""Signed, compact, URL-safe tracking tokens and the URLs that carry them.

A token names one sent copy of an email by its random public id (never a
database id) and, for clicks, the link index and the destination URL itself,
so the pixel and redirect endpoints answer from the token alone without a
database read, and a redirect can only lead to a URL we signed.

Binary layout (then base64url without padding)::

    version(1) | flags(1) | kid(1) | copy_id(12)
      | [link_index(2, big endian) | destination]   (click tokens only)
      | mac(16)

``flags`` bits: ``KIND_MASK`` (0x0F) is the kind (1 = open, 2 = click);
``FLAG_HONEYPOT`` (0x10) marks the hidden honeypot link of a copy;
``FLAG_DEFLATE`` (0x20) says the destination is raw-deflate compressed (used
only when that makes the token shorter). Link index 0 is reserved for the
honeypot (signing a honeypot always uses index 0; real links are 1..65535).
``mac`` is the first 16 bytes of HMAC-SHA256 over everything before it, with a
MAC key derived from the secret for domain separation. ``kid`` is the first
byte of sha256(MAC key): it selects candidate keys on verification; collisions
are possible and handled by trying every key with that id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "COPY_ID_LEN",
    "MAX_TOKEN_LEN",
    "ClickToken",
    "OpenToken",
    "TokenSigner",
    "TrackingUrls",
    "new_public_id",
]

VERSION = 1
KIND_OPEN = 1
KIND_CLICK = 2
KIND_MASK = 0x0F
FLAG_HONEYPOT = 0x10
FLAG_DEFLATE = 0x20
_KNOWN_FLAGS = KIND_MASK | FLAG_HONEYPOT | FLAG_DEFLATE

COPY_ID_LEN = 12
MAC_LEN = 16
MAX_TOKEN_LEN = 8192
"""Longest token string accepted (and produced); checked before any decoding."""

_HEADER_LEN = 3 + COPY_ID_LEN
_OPEN_LEN = _HEADER_LEN + MAC_LEN
_CLICK_MIN_LEN = _HEADER_LEN + 2 + MAC_LEN
_MAX_LINK_INDEX = 0xFFFF
# Compressing short URLs never pays off; skip the work below this many bytes.
_DEFLATE_MIN = 48
# Destinations are bounded at signing, so an authentic compressed payload
# cannot expand beyond this (the MAC is checked before decompressing).
_MAX_DESTINATION = 64 * 1024
_DERIVE_LABEL = b"mailbeacon/tracking-token/v1"
_B64_RE = re.compile(r"[A-Za-z0-9_-]+")


def new_public_id() -> bytes:
    """Return a fresh random 12-byte public id for one sent copy."""
    return secrets.token_bytes(COPY_ID_LEN)


@dataclass(frozen=True, slots=True)
class OpenToken:
    """A verified open-pixel token."""

    copy_id: bytes


@dataclass(frozen=True, slots=True)
class ClickToken:
    """A verified click token: which copy, which link, and where it leads."""

    copy_id: bytes
    link_index: int
    destination: str
    honeypot: bool = False


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes | None:
    """Strictly decode unpadded base64url; None unless canonical."""
    # b64decode silently skips foreign characters; we want them rejected.
    if len(token) % 4 == 1 or _B64_RE.fullmatch(token) is None:
        return None
    data = token.encode("ascii")
    try:
        raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical encodings (non-zero padding bits) so that exactly one
    # string stands for each token: a flipped character never verifies.
    if _b64encode(raw) != token:
        return None
    return raw


class TokenSigner:
    """Signs with the newest key and verifies with any configured key.

    ``keys`` is ordered newest first; the first signs, all of them verify, so
    tokens in emails sent before a rotation keep working while the old key is
    still listed.
    """

    __slots__ = ("_by_kid", "_sign_key", "_sign_kid")

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys must be a sequence of secrets, newest first")
        if not keys:
            raise ValueError("at least one secret key is required")
        self._by_kid: dict[int, list[bytes]] = {}
        derived_keys: list[tuple[int, bytes]] = []
        for secret in keys:
            raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
            if not raw:
                raise ValueError("secret keys must not be empty")
            derived = hmac.digest(raw, _DERIVE_LABEL, "sha256")
            kid = hashlib.sha256(derived).digest()[0]
            derived_keys.append((kid, derived))
            self._by_kid.setdefault(kid, []).append(derived)
        self._sign_kid, self._sign_key = derived_keys[0]

    def _seal(self, body: bytes) -> str:
        mac = hmac.digest(self._sign_key, body, "sha256")[:MAC_LEN]
        return _b64encode(body + mac)

    def _header(self, flags: int, copy_id: bytes) -> bytes:
        if len(copy_id) != COPY_ID_LEN:
            raise ValueError(f"copy_id must be {COPY_ID_LEN} bytes")
        return bytes((VERSION, flags, self._sign_kid)) + copy_id

    def sign_open(self, copy_id: bytes) -> str:
        """Return the open-pixel token of one copy."""
        return self._seal(self._header(KIND_OPEN, copy_id))

    def sign_click(
        self, copy_id: bytes, link_index: int, destination: str, *, honeypot: bool = False
    ) -> str:
        """Return the click token of link ``link_index`` of a copy, carrying ``destination``.

        The honeypot is always signed with index 0; real links use 1..65535.
        Raises ValueError when the index is out of range or the destination
        is too long for a token of at most ``MAX_TOKEN_LEN`` characters.
        """
        if honeypot:
            link_index = 0
        elif not 1 <= link_index <= _MAX_LINK_INDEX:
            raise ValueError("link_index must be in 1..65535 (0 is the honeypot)")
        # surrogatepass: a destination is returned exactly as given, whatever it is.
        payload = destination.encode("utf-8", "surrogatepass")
        if len(payload) > _MAX_DESTINATION:
            raise ValueError("destination too long for a tracking token")
        flags = KIND_CLICK | (FLAG_HONEYPOT if honeypot else 0)
        if len(payload) >= _DEFLATE_MIN:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = packer.compress(payload) + packer.flush()
            if len(packed) < len(payload):
                payload, flags = packed, flags | FLAG_DEFLATE
        body = self._header(flags, copy_id) + link_index.to_bytes(2, "big") + payload
        token = self._seal(body)
        if len(token) > MAX_TOKEN_LEN:
            raise ValueError("destination too long for a tracking token")
        return token

    def verify(self, token: str) -> OpenToken | ClickToken | None:
        """Return the token's content if it is authentic, else None. Never raises."""
        try:
            return self._verify(token)
        except Exception:  # garbage in must never become an error out of the hot path
            return None

    def _verify(self, token: str) -> OpenToken | ClickToken | None:
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LEN:
            return None
        raw = _b64decode(token)
        if raw is None or len(raw) < _OPEN_LEN or raw[0] != VERSION:
            return None
        flags = raw[1]
        kind = flags & KIND_MASK
        if flags & ~_KNOWN_FLAGS:
            return None
        if kind == KIND_OPEN:
            if len(raw) != _OPEN_LEN or flags != KIND_OPEN:
                return None
        elif kind != KIND_CLICK or len(raw) < _CLICK_MIN_LEN:
            return None
        candidates = self._by_kid.get(raw[2])
        if not candidates:
            return None
        body, mac = raw[:-MAC_LEN], raw[-MAC_LEN:]
        for key in candidates:
            if hmac.compare_digest(hmac.digest(key, body, "sha256")[:MAC_LEN], mac):
                break
        else:
            return None
        copy_id = body[3:_HEADER_LEN]
        if kind == KIND_OPEN:
            return OpenToken(copy_id)
        index = int.from_bytes(body[_HEADER_LEN : _HEADER_LEN + 2], "big")
        honeypot = bool(flags & FLAG_HONEYPOT)
        if honeypot != (index == 0):
            return None
        payload = body[_HEADER_LEN + 2 :]
        if flags & FLAG_DEFLATE:
            payload = zlib.decompress(payload, -15)
        destination = payload.decode("utf-8", "surrogatepass")
        return ClickToken(copy_id, index, destination, honeypot)


class TrackingUrls:
    """Builds and recognises the tracking URLs under our public URL.

    ``public_url`` is the tracking domain with an optional path prefix, e.g.
    ``https://t.example.com`` or ``https://crm.example.com/mb``. The open
    pixel lives at ``{public_url}/t/o/{token}.gif``, clicks at
    ``{public_url}/t/c/{token}``.
    """

    __slots__ = (
        "_base",
        "_click_prefix",
        "_host",
        "_open_prefix",
        "_scheme",
        "public_url",
        "signer",
    )

    def __init__(self, public_url: str, signer: TokenSigner) -> None:
        base = public_url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("public_url must be an absolute http(s) URL")
        self.public_url = base
        self.signer = signer
        self._scheme = parts.scheme.lower()
        self._host = parts.netloc.lower()
        self._open_prefix = parts.path.rstrip("/") + "/t/o/"
        self._click_prefix = parts.path.rstrip("/") + "/t/c/"

    def open_url(self, copy_id: bytes) -> str:
        """Return the open-pixel URL of one copy."""
        return f"{self.public_url}/t/o/{self.signer.sign_open(copy_id)}.gif"

    def click_url(
        self, copy_id: bytes, link_index: int, destination: str, honeypot: bool = False
    ) -> str:
        """Return the tracked URL of one link of a copy (see TokenSigner.sign_click)."""
        token = self.signer.sign_click(copy_id, link_index, destination, honeypot=honeypot)
        return f"{self.public_url}/t/c/{token}"

    def parse(self, url: str) -> OpenToken | ClickToken | None:
        """Return the verified token of one of our tracking URLs, else None. Never raises.

        The URL must be on our scheme, host and path prefix (host compared
        case-insensitively); entity decoding is the caller's job. Tokens signed
        by any configured key, including older ones, are accepted.
        """
        try:
            if not isinstance(url, str) or len(url) > MAX_TOKEN_LEN + 512:
                return None
            parts = urlsplit(url.strip())
            if parts.scheme.lower() != self._scheme or parts.netloc.lower() != self._host:
                return None
            path = parts.path
            if path.startswith(self._open_prefix) and path.endswith(".gif"):
                found = self.signer.verify(path[len(self._open_prefix) : -4])
                return found if isinstance(found, OpenToken) else None
            if path.startswith(self._click_prefix):
                found = self.signer.verify(path[len(self._click_prefix) :])
                return found if isinstance(found, ClickToken) else None
        except Exception:  # a malformed URL is simply not one of ours
            return None
        return None
