"""The client address of a request, trusting forwarding headers only from configured proxies."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence

from starlette.types import Scope

from plugin.settings import IPNetwork

__all__ = ["client_address"]

_UNKNOWN = "0.0.0.0"  # noqa: S104 - a placeholder address, never bound


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A dotted quad in its canonical form (no leading zeros), the common case by far: it is
# checked and compared as text and an integer, without building an address object.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


class _Proxies:
    """Trusted networks, with the IPv4 ones as (network, mask) integers for quick tests."""

    def __init__(self, networks: tuple[IPNetwork, ...]) -> None:
        self.networks = networks
        self.v4 = tuple(
            (int(net.network_address), int(net.netmask))
            for net in networks
            if isinstance(net, ipaddress.IPv4Network)
        )

    def trusts_v4(self, address: int) -> bool:
        return any(address & mask == network for network, mask in self.v4)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=64)
def _proxies(networks: tuple[IPNetwork, ...]) -> _Proxies:
    return _Proxies(networks)


def _hop(value: str, proxies: _Proxies) -> tuple[str, bool] | None:
    """A hop's canonical address and whether it is a trusted proxy; None if garbled."""
    value = value.strip().strip('"')
    quad = _CANONICAL_V4.fullmatch(value)
    if quad is not None:
        a, b, c, d = (int(octet) for octet in quad.groups())
        return value, proxies.trusts_v4((a << 24) | (b << 16) | (c << 8) | d)
    address = _parse(value)
    if address is None:
        return None
    return str(address), proxies.trusts(address)


def _parse(value: str) -> IPAddress | None:
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
    proxies = _proxies(tuple(trusted_proxies))
    peer_hop = _hop(str(peer[0]), proxies) if peer else None
    if peer_hop is None:
        return _UNKNOWN
    current, trusted = peer_hop
    if not trusted:
        return current
    for raw in reversed(_forwarded_chain(scope.get("headers", []))):
        hop = _hop(raw, proxies)
        if hop is None:
            break  # a garbled hop: stop at the last address we could trust
        current, trusted = hop
        if not trusted:
            break
    return current
