"""The ``Location`` of a click redirect: the signed destination, exactly, as a valid URI.

Starlette's RedirectResponse percent-encodes a non-ASCII host (``b%C3%BCcher``),
which leads nowhere. Here the host is IDNA-encoded (UTS 46, as browsers do),
and everything else is left alone except what cannot stand in a URI: non-ASCII
characters, spaces and control characters are percent-encoded (UTF-8), and
existing ``%XX`` escapes are kept as they are.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import quote, urlsplit

import idna

__all__ = ["redirect_location"]

# Everything printable in ASCII except space stays as written (including "%").
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_HOST = 253


def _quote(part: str) -> str:
    return quote(part, safe=_SAFE, encoding="utf-8", errors="strict")


def _host(host: str) -> str | None:
    if not host:
        return None
    if host.startswith("["):  # IPv6 literal
        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return None
        return host if host.endswith("]") else None
    if host.isascii():
        ascii_host = host.lower()
    else:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            try:  # IDNA 2003, which some registries still used for older names
                ascii_host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
    if len(ascii_host) > _MAX_HOST or not re.fullmatch(r"[a-z0-9._~!$&'()*+,;=%-]+", ascii_host):
        return None
    return ascii_host


# The clicks of one email repeat its few links: parse each destination once per process.
@functools.lru_cache(maxsize=2048)
def redirect_location(destination: str) -> str | None:
    """The ASCII Location for ``destination``, or None unless it is an absolute http(s) URL."""
    try:
        return _location(destination)
    except (ValueError, UnicodeError):
        return None


def _location(destination: str) -> str | None:
    # Browsers strip surrounding whitespace and ignore tabs and newlines inside URLs;
    # a header must never carry them, so they are removed rather than encoded.
    url = re.sub(r"[\t\n\r]", "", destination.strip(" \t\n\r\f\v"))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not url[len(scheme) + 1 :].startswith("//"):
        return None
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            return None
    else:
        host, _, port = hostport.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) < 65536):
        return None
    ascii_host = _host(host)
    if ascii_host is None:
        return None
    location = f"{scheme}://"
    if at:
        location += _quote(userinfo) + "@"
    location += ascii_host + (f":{port}" if port else "")
    location += _quote(parts.path)
    if "?" in url.split("#", 1)[0]:  # keep an empty query ("?") as written
        location += "?" + _quote(parts.query)
    if "#" in url:
        location += "#" + _quote(parts.fragment)
    if _CONTROL.search(location) or not location.isascii():
        return None
    return location
