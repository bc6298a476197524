"""The client address: the socket peer unless the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress

from plugin.net import client_address

PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


def scope(peer: str, *headers: tuple[str, str]) -> dict:
    return {
        "client": (peer, 5000),
        "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers],
    }


def test_without_trusted_proxies_forwarding_headers_are_ignored() -> None:
    assert client_address(scope("203.0.113.9", ("X-Forwarded-For", "1.2.3.4")), ()) == "203.0.113.9"


def test_an_untrusted_peer_cannot_forge_its_address() -> None:
    assert (
        client_address(scope("203.0.113.9", ("X-Forwarded-For", "1.2.3.4")), PROXIES)
        == "203.0.113.9"
    )


def test_a_trusted_proxy_chain_is_walked_back_to_the_first_untrusted_hop() -> None:
    s = scope("127.0.0.1", ("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.2.3"))
    assert client_address(s, PROXIES) == "198.51.100.7"


def test_rfc7239_forwarded_is_understood() -> None:
    s = scope("10.0.0.5", ("Forwarded", 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'))
    assert client_address(s, PROXIES) == "2001:db8::1"


def test_garbage_headers_never_raise() -> None:
    for value in ("", "not-an-ip", "\xff\xfe", ",,,", "1.2.3.4.5", "[::1", "unknown"):
        assert (
            client_address(scope("127.0.0.1", ("X-Forwarded-For", value)), PROXIES) == "127.0.0.1"
        )
    assert client_address({"headers": []}, PROXIES) == "0.0.0.0"
