"""One pixel or redirect hit as the edge hands it to the queue, and the client fingerprints.

The edge answers from the token alone and hands the hit on in this small,
JSON-safe form (short keys: thousands of hits travel in one message). The raw
client address travels with the hit only as far as the worker, which needs it
for Apple's networks and the self check; storage keeps a keyed hash of it and
its network prefix, never the address itself.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from plugin.settings import Settings

__all__ = [
    "MAX_USER_AGENT",
    "WIRE_VERSION",
    "EdgeHit",
    "HitKind",
    "client_hash",
    "client_prefix",
    "credential_hash",
    "dashed_uuid",
    "new_event_id",
    "self_digest",
    "uuid_hex",
]

MAX_USER_AGENT = 512
WIRE_VERSION = 1


class HitKind(StrEnum):
    """A pixel fetch (OPEN) or a redirect (CLICK): the wire's ``k`` (O or C)."""

    OPEN = "OPEN"
    CLICK = "CLICK"


_KINDS = {"O": HitKind.OPEN, "C": HitKind.CLICK}
_KIND_CODES = {kind: code for code, kind in _KINDS.items()}
_UUID_HEX = re.compile(r"[0-9a-f]{32}")


def uuid_hex(value: object) -> str:
    """A UUID as 32 lowercase hex digits; ValueError if it is none.

    The pipeline converts thousands of ids a batch: the edge's own form (already hex)
    is checked with one match instead of building a ``uuid.UUID``.
    """
    if isinstance(value, uuid.UUID) or not isinstance(value, str):
        hex_id = getattr(value, "hex", None)  # uuid.UUID, or asyncpg's own UUID type
        if isinstance(hex_id, str):
            return hex_id
    text = str(value)
    if _UUID_HEX.fullmatch(text):
        return text
    return uuid.UUID(text).hex


def dashed_uuid(hex_id: str) -> str:
    """32 hex digits (as ``uuid_hex`` returns) in the 8-4-4-4-12 form UUID columns hold."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


@dataclass(frozen=True, slots=True)
class EdgeHit:
    """A hit as answered at the edge: enough to classify and store it later."""

    event_id: str  # uuid4 hex, made at the edge: the idempotency key of the event
    kind: HitKind
    copy_id: str  # hex of the 12-byte public id of the copy
    link_index: int | None
    honeypot: bool
    occurred_at: float  # UNIX time at the edge
    method: str
    user_agent: str
    client_ip: str = ""
    credential: str | None = None  # SHA-256 hex of a bearer token the request carried

    def to_wire(self) -> dict[str, Any]:
        """The JSON-safe form that travels in queue messages and the spool."""
        wire: dict[str, Any] = {
            "v": WIRE_VERSION,
            "id": self.event_id,
            "k": _KIND_CODES[self.kind],
            "c": self.copy_id,
            "t": self.occurred_at,
            "m": self.method,
            "ua": self.user_agent,
            "ip": self.client_ip,
        }
        if self.link_index is not None:
            wire["l"] = self.link_index
        if self.honeypot:
            wire["hp"] = True
        if self.credential:
            wire["a"] = self.credential
        return wire

    @classmethod
    def from_wire(cls, data: Any) -> EdgeHit | None:
        """Parse the wire form; None for anything malformed (never raises)."""
        try:
            return cls._parse(data)
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def _parse(cls, data: Any) -> EdgeHit | None:
        # dict first: an ABC check costs more than the rest of a hit's parsing.
        if not isinstance(data, dict | Mapping) or data.get("v") != WIRE_VERSION:
            return None
        event_id = uuid_hex(data["id"])
        copy_id = str(data["c"])
        if len(copy_id) != 24 or bytes.fromhex(copy_id).hex() != copy_id:
            return None
        link = data.get("l")
        occurred_at = float(data["t"])
        if occurred_at != occurred_at or occurred_at <= 0:  # NaN, nonsense
            return None
        credential = data.get("a")
        return cls(
            event_id=event_id,
            kind=_KINDS[str(data["k"])],
            copy_id=copy_id,
            link_index=int(link) if link is not None else None,
            honeypot=bool(data.get("hp", False)),
            occurred_at=occurred_at,
            method=str(data["m"])[:8],
            user_agent=str(data.get("ua", ""))[:MAX_USER_AGENT],
            client_ip=str(data.get("ip", "")),
            credential=str(credential) if credential else None,
        )


def new_event_id() -> str:
    """A random (version 4) UUID as 32 hex digits; cheaper than uuid.uuid4().hex."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


@functools.cache
def _client_key(secret: str) -> bytes:
    # A key of its own (domain separation): the secret signs tokens, this key hashes clients.
    return hmac.digest(secret.encode("utf-8"), b"mailbeacon/client-hash/v1", "sha256")


# A dotted quad in canonical form (no leading zeros) is already normalized: the common
# case, and every hit of a crowd is a new address, so no cache helps it.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")

# A backlog repeats its clients: parse and hash each once. Opens come from ever new
# clients, so these fill up to their size and stay there (measured ~210-330 bytes an
# entry): at 65,536 entries each the three held ~47 MiB per worker, reached after 11
# minutes of 100 new clients a second (bench_soak). CLIENT_CACHE covers the few
# batches (<= 1,000 hits each) within which a client's repeats usually fall.
CLIENT_CACHE = 8192


@functools.lru_cache(maxsize=CLIENT_CACHE)
def _normalized(address: str) -> str:
    if _CANONICAL_V4.fullmatch(address):
        return address
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def client_hash(settings: Settings, address: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of the full client address: same client, same hash.

    Keyed with a key derived from the current secret key, so a leaked table
    cannot be reversed by hashing the whole IPv4 space.
    """
    return _client_hash(settings.secret_keys[0], address)


@functools.lru_cache(maxsize=CLIENT_CACHE)
def _client_hash(secret: str, address: str) -> str:
    key = _client_key(secret)
    return hmac.digest(key, _normalized(address).encode("utf-8"), "sha256").hex()


@functools.lru_cache(maxsize=CLIENT_CACHE)
def client_prefix(address: str) -> str:
    """The client's network, truncated: /24 for IPv4, /48 for IPv6 ("" if unparsable)."""
    if _CANONICAL_V4.fullmatch(address):
        return address[: address.rindex(".")] + ".0/24"
    try:
        parsed = ipaddress.ip_address(_normalized(address))
    except ValueError:
        return ""
    bits = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{bits}", strict=False))


def self_digest(settings: Settings, user_id: int, address: str, user_agent: str) -> str:
    """Keyed hash of (user, client address, user agent) for the self-detection store."""
    key = _client_key(settings.secret_keys[0])
    text = f"{user_id}\x00{_normalized(address)}\x00{user_agent[:MAX_USER_AGENT]}"
    # hmac.digest: OpenSSL's one-shot HMAC, several times cheaper than an hmac.new object.
    return hmac.digest(key, text.encode("utf-8", "surrogatepass"), "sha256").hex()


def credential_hash(token: str) -> str:
    """The hash under which API tokens are stored (see plugin.accounts.service)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
