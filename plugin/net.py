"""The client address of a request, trusting forwarding headers only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

from plugin.settings import IPNetwork

__all__ = ["client_address"]

_UNKNOWN = "0.0.0.0"  # noqa: S104 - a placeholder address, never bound


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        if "]" not in value:
            return None
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(address in network for network in proxies)


def _forwarded_chain(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """Addresses from X-Forwarded-For, or RFC 7239 Forwarded, nearest hop last."""
    xff: list[str] = []
    forwarded: list[str] = []
    for name, raw in headers:
        lname = name.lower()
        if lname == b"x-forwarded-for":
            xff.extend(part for part in raw.decode("latin-1").split(","))
        elif lname == b"forwarded":
            for element in raw.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, val = pair.strip().partition("=")
                    if key.lower() == "for":
                        forwarded.append(val)
    return forwarded or xff


def client_address(scope: Scope, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The address of the client: the socket peer, or, behind trusted proxies, the first
    untrusted hop counted from the nearest proxy backwards."""
    peer = scope.get("client")
    if not trusted_proxies:  # the common case, on the tracking hot path: the peer as given
        return str(peer[0]) if peer else _UNKNOWN
    peer_address = _parse(peer[0]) if peer else None
    if peer_address is None:
        return _UNKNOWN
    if not _trusted(peer_address, trusted_proxies):
        return str(peer_address)
    current = peer_address
    for hop in reversed(_forwarded_chain(scope.get("headers", []))):
        address = _parse(hop)
        if address is None:
            break  # a garbled hop: stop at the last address we could trust
        current = address
        if not _trusted(address, trusted_proxies):
            break
    return str(current)
