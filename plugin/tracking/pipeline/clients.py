"""Who opened, on what: the mail client or browser, system and device behind an event.

Derived from the stored user agent and the classifier's rule, never stored on its
own: an erased or purged event takes its client with it, and an update of the
parser's rules improves old events too. The parsing is ua-parser with uap-core's
maintained rules (pinned in pyproject.toml), with ``data/mail_clients.yaml`` naming
the mail clients and image proxies it does not; results are cached per user agent.

Apple Mail Privacy Protection cannot be told from the UA alone (its UA is a bare
``Mozilla/5.0`` or a UA with no platform, fetched from Apple's networks); the
classifier decided it from address and UA, and its stored rule ``apple-mpp`` is
what names the proxy here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import ua_parser
import yaml

__all__ = [
    "APPLE_MPP",
    "ClientInfo",
    "DeviceType",
    "client_for_event",
    "parse_client",
]

#: The proxy name of Apple Mail Privacy Protection's prefetch.
APPLE_MPP = "Apple Mail Privacy Protection"
_APPLE_MPP_RULE = "apple-mpp"


class DeviceType(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ClientInfo:
    """The parsed client of one user agent; None where the UA does not say."""

    name: str | None
    version: str | None
    os: str | None
    device: DeviceType
    #: The image proxy that fetched for the person ("Gmail image proxy"), if any.
    proxy: str | None = None


@dataclass(frozen=True)
class _MailClient:
    name: str
    match: re.Pattern[str]
    proxy: str | None
    os: str | None


@functools.cache
def _mail_clients() -> tuple[_MailClient, ...]:
    text = (
        resources.files("plugin.tracking.pipeline").joinpath("data/mail_clients.yaml").read_text("utf-8")
    )
    raw = yaml.safe_load(text)
    entries = raw.get("clients") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ValueError("mail_clients.yaml: 'clients' must be a list")
    clients = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("match"):
            raise ValueError(f"mail_clients.yaml: every entry needs a name and a match: {entry}")
        proxy, os_name = entry.get("proxy"), entry.get("os")
        clients.append(
            _MailClient(
                str(entry["name"]),
                re.compile(str(entry["match"])),
                str(proxy) if proxy else None,
                str(os_name) if os_name else None,
            )
        )
    return tuple(clients)


# ua-parser's names for systems, where people know another one.
_OS_NAMES = {"Mac OS X": "macOS", "Other": ""}
_DESKTOP_OS = {
    "Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD",
    "OpenBSD", "NetBSD", "Mint", "Red Hat", "SUSE", "openSUSE", "Arch Linux", "Solaris",
    "Gentoo", "CentOS", "Mageia", "Slackware", "Kubuntu", "Xubuntu", "Lubuntu", "Windows 95",
    "Windows 98", "Windows NT", "Windows XP", "Windows 7", "Windows 8",
}  # fmt: skip
_MOBILE_OS = {
    "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS",
    "Windows Mobile", "webOS", "Tizen", "Sailfish", "HarmonyOS", "Bada", "MeeGo",
}  # fmt: skip
_TABLET_DEVICES = re.compile(r"iPad|Tablet|Kindle|Nexus (?:7|9|10)\b|SM-[TXP]\d", re.IGNORECASE)
_MOBILE_TOKEN = re.compile(r"\bMobile\b|\bPhone\b|iPhone|iPod")


def _version(*parts: str | None) -> str | None:
    kept: list[str] = []
    for part in parts:
        if part is None:
            break
        kept.append(part)
    return ".".join(kept) or None


def _device(ua: str, result: ua_parser.Result) -> DeviceType:
    device = result.device
    family = device.family if device else ""
    brand = (device.brand or "") if device else ""
    os_family = result.os.family if result.os else ""
    if family == "Spider":
        return DeviceType.UNKNOWN
    if _TABLET_DEVICES.search(f"{family} {brand}"):
        return DeviceType.TABLET
    if family in ("iPhone", "iPod", "Generic Smartphone") or os_family in _MOBILE_OS:
        return DeviceType.MOBILE
    if os_family == "Android":
        # Android phones say "Mobile"; Android tablets leave it out (Google's guidance).
        return DeviceType.MOBILE if _MOBILE_TOKEN.search(ua) else DeviceType.TABLET
    if os_family in _DESKTOP_OS or "Linux" in os_family or family == "Mac":
        return DeviceType.DESKTOP
    return DeviceType.UNKNOWN


def _os(result: ua_parser.Result) -> str | None:
    if result.os is None:
        return None
    family = _OS_NAMES.get(result.os.family, result.os.family)
    if not family:
        return None
    version = _version(result.os.major, result.os.minor)
    return f"{family} {version}" if version else family


def _mail_client(ua: str) -> tuple[_MailClient, str | None] | None:
    for client in _mail_clients():
        found = client.match.search(ua)
        if found is not None:
            version = next((group for group in found.groups() if group), None)
            return client, version
    return None


@functools.lru_cache(maxsize=8192)
def parse_client(ua: str) -> ClientInfo:
    """The client, system and device a user agent names (cached per user agent)."""
    if not ua.strip():
        return ClientInfo(None, None, None, DeviceType.UNKNOWN)
    result = ua_parser.parse(ua)
    mail = _mail_client(ua)
    if mail is not None and mail[0].proxy:
        # The proxy's own UA names a made-up system (Gmail's says Windows XP).
        return ClientInfo(mail[0].name, mail[1], None, DeviceType.UNKNOWN, mail[0].proxy)
    if mail is not None:
        name, version = mail[0].name, mail[1]
    elif result.user_agent is not None and result.user_agent.family != "Other":
        agent = result.user_agent
        name = agent.family
        version = _version(agent.major, agent.minor, agent.patch, agent.patch_minor)
    else:
        name, version = None, None
    os_name = mail[0].os if mail is not None and mail[0].os else _os(result)
    return ClientInfo(name, version, os_name, _device(ua, result))


def client_for_event(user_agent: str, rule: str) -> ClientInfo:
    """The client of a stored event: its UA parsed, and Apple's proxy named from its rule."""
    if rule == _APPLE_MPP_RULE:
        return ClientInfo("Apple Mail", None, None, DeviceType.UNKNOWN, APPLE_MPP)
    return parse_client(user_agent)
