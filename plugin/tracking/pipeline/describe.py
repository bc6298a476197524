"""One line in words for each event: who did what, on what, and whether it counts.

"Opened in Outlook 16 on Windows", "Opened in Gmail (the device is hidden by the
Gmail image proxy)", "Prefetched by Apple Mail Privacy Protection: not counted".
Pure: built from the event's kind, classification and parsed client.
"""

from __future__ import annotations

from plugin.tracking.pipeline.clients import ClientInfo, DeviceType, client_for_event

__all__ = ["describe_event", "present_event"]

_NOT_COUNTED = ": not counted"

# Why a machine's hit is not a person's, per classifier rule (plugin.tracking.pipeline.classify).
_MACHINE_OPEN = {
    "apple-mpp": "Prefetched by Apple Mail Privacy Protection",
    "head-request": "Checked by a program (HEAD request)",
    "empty-user-agent": "Fetched by a program that gives no user agent",
    "bare-user-agent": "Fetched by a program with a bare user agent",
    "scanner-ua": "Fetched by a security scanner",
    "headless-browser": "Fetched by a headless browser",
    "crawler": "Fetched by a crawler",
    "bot-list": "Fetched by a known bot",
    "http-library": "Fetched by an HTTP library",
    "prefetcher": "Prefetched by a mail preview service",
    "honeypot-burst": "Fetched by a link scanner (it also followed the hidden link)",
}
_MACHINE_CLICK = {
    "honeypot": "Hidden link followed by a link scanner",
    "head-request": "Checked by a link scanner (HEAD request)",
    "empty-user-agent": "Followed by a program that gives no user agent",
    "bare-user-agent": "Followed by a program with a bare user agent",
    "scanner-ua": "Followed by a security scanner",
    "headless-browser": "Followed by a headless browser",
    "crawler": "Followed by a crawler",
    "bot-list": "Followed by a known bot",
    "http-library": "Followed by an HTTP library",
    "prefetcher": "Followed by a preview service",
    "honeypot-burst": "Followed by a link scanner (it also followed the hidden link)",
    "scanner-window": "Followed seconds after delivery, as link scanners do",
    "burst": "Several links followed at once, as link scanners do",
}
# Rules that recognised the program by its UA: naming it helps. Behaviour-based rules
# (honeypot, bursts, timing) caught scanners that pose as browsers: naming the
# browser they pose as would mislead.
_RECOGNISED_BY_USER_AGENT = frozenset(
    {"scanner-ua", "headless-browser", "crawler", "bot-list", "http-library", "prefetcher"}
)
_DEVICE_WORDS = {DeviceType.MOBILE: "phone", DeviceType.TABLET: "tablet"}


def _major(version: str | None) -> str | None:
    return version.split(".", 1)[0] if version else None


def _client_words(client: ClientInfo) -> str:
    """' in Outlook 16 on Windows (phone)', or '' when nothing is known."""
    words = ""
    if client.name:
        major = _major(client.version)
        words += f" in {client.name} {major}" if major else f" in {client.name}"
    if client.proxy:
        return words + f" (the device is hidden by the {client.proxy})"
    system = client.os.split(" ", 1)[0] if client.os else None
    if client.os and client.os.startswith(("Windows Phone", "Chrome OS", "BlackBerry OS")):
        system = " ".join(client.os.split(" ")[:2])
    device = _DEVICE_WORDS.get(client.device)
    if system and device:
        words += f" on {system} ({device})"
    elif system:
        words += f" on {system}"
    elif device:
        words += f" on a {device}"
    return words


def _named(text: str, client: ClientInfo) -> str:
    """A machine's line, naming the program when the parser knows it."""
    if client.name:
        major = _major(client.version)
        text += f" ({client.name} {major})" if major else f" ({client.name})"
    return text


def describe_event(
    kind: str, source: str, rule: str, duplicate: bool, client: ClientInfo
) -> str:
    """The event in one line of words; every event that is not counted says so."""
    is_open = kind == "OPEN"
    if source == "SELF":
        return ("Opened" if is_open else "Clicked") + " by you" + _NOT_COUNTED
    if source == "HUMAN":
        line = ("Opened" if is_open else "Clicked") + _client_words(client)
        return line + (": a repeat, counted once" if duplicate else "")
    reasons = _MACHINE_OPEN if is_open else _MACHINE_CLICK
    text = reasons.get(rule)
    if text is None:
        text = "Fetched by a machine" if is_open else "Followed by a machine"
    if rule in _RECOGNISED_BY_USER_AGENT:
        text = _named(text, client)
    return text + _NOT_COUNTED


def present_event(
    kind: str, source: str, rule: str, duplicate: bool, user_agent: str
) -> tuple[ClientInfo, str]:
    """The client of a stored event and its line in words."""
    client = client_for_event(user_agent, rule)
    return client, describe_event(kind, source, rule, duplicate, client)
