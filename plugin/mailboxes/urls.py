"""Mailbox server URLs: parsed, checked, described without their credentials.

SMTP as for ``MAILBEACON_SMTP_URL`` (``smtp://``, ``smtp+starttls://``,
``smtps://``), IMAP as ``imap://``, ``imap+starttls://`` or ``imaps://``; the
credentials are ``user:password@`` (percent-encoded). A URL without TLS that
carries credentials is accepted only for a server on the loopback address (a
local relay): anywhere else the password would cross the network in clear.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from plugin.errors import ErrorCode, ValidationError

__all__ = ["ServerUrl", "parse_imap_url", "parse_smtp_url"]

_SMTP_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
_IMAP_PORTS = {"imap": 143, "imap+starttls": 143, "imaps": 993}


@dataclass(frozen=True)
class ServerUrl:
    url: str
    scheme: str
    host: str
    port: int
    username: str
    password: str

    @property
    def implicit_tls(self) -> bool:
        return self.scheme in ("smtps", "imaps")

    @property
    def starttls(self) -> bool:
        return self.scheme.endswith("+starttls")

    @property
    def display(self) -> str:
        """host:port, what the user is shown (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:  # never the password, whatever prints it
        return f"ServerUrl({self.scheme}://{self.display})"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse(url: str, field: str, ports: dict[str, int]) -> ServerUrl:
    schemes = ", ".join(f"{scheme}://" for scheme in ports)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValidationError(f"not a valid URL (use {schemes})", field=field) from None
    if parts.scheme not in ports:
        raise ValidationError(f"the URL must start with one of {schemes}", field=field)
    if not parts.hostname:
        raise ValidationError("the URL has no server name", field=field)
    if not parts.username or not parts.password:
        raise ValidationError(
            "the URL needs the account's credentials: scheme://user:password@host:port "
            "(percent-encode special characters)", field=field,
        )
    server = ServerUrl(
        url=url.strip(), scheme=parts.scheme, host=parts.hostname,
        port=port or ports[parts.scheme], username=unquote(parts.username),
        password=unquote(parts.password),
    )
    if not (server.implicit_tls or server.starttls) and not is_loopback(server.host):
        secure = ", ".join(f"{scheme}://" for scheme in ports if scheme != parts.scheme)
        raise ValidationError(
            f"{parts.scheme}:// sends the password in clear: it is accepted only for a server "
            f"on the loopback address; use {secure}",
            field=field, code=ErrorCode.MAILBOX_TLS_REQUIRED,
        )
    return server


def parse_smtp_url(url: str) -> ServerUrl:
    return _parse(url, "smtpUrl", _SMTP_PORTS)


def parse_imap_url(url: str) -> ServerUrl:
    return _parse(url, "imapUrl", _IMAP_PORTS)
