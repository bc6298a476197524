"""Events in words: one line per event, saying whether it counts."""

from __future__ import annotations

import pytest

from plugin.tracking.pipeline.clients import APPLE_MPP, ClientInfo, DeviceType, client_for_event
from plugin.tracking.pipeline.describe import describe_event, present_event

OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
IPAD_MAIL = (
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
YAHOO = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
NOTHING = ClientInfo(None, None, None, DeviceType.UNKNOWN)


def line(kind: str, source: str, rule: str, ua: str, duplicate: bool = False) -> str:
    return present_event(kind, source, rule, duplicate, ua)[1]


@pytest.mark.parametrize(
    ("kind", "source", "rule", "ua", "expected"),
    [
        ("OPEN", "HUMAN", "human", OUTLOOK, "Opened in Outlook 16 on Windows"),
        ("OPEN", "HUMAN", "human", IPAD_MAIL, "Opened in Apple Mail on iOS (tablet)"),
        ("CLICK", "HUMAN", "human", ANDROID_CHROME,
         "Clicked in Chrome Mobile 120 on Android (phone)"),
        ("OPEN", "HUMAN", "human", YAHOO,
         "Opened in Yahoo Mail (the device is hidden by the Yahoo Mail image proxy)"),
        ("OPEN", "MACHINE", "apple-mpp", "Mozilla/5.0",
         "Prefetched by Apple Mail Privacy Protection: not counted"),
        ("OPEN", "MACHINE", "crawler", "Mozilla/5.0 (compatible; Googlebot/2.1)",
         "Fetched by a crawler (Googlebot 2): not counted"),
        ("CLICK", "BOT", "honeypot", ANDROID_CHROME,
         "Hidden link followed by a link scanner: not counted"),
        ("CLICK", "BOT", "scanner-window", OUTLOOK,
         "Followed seconds after delivery, as link scanners do: not counted"),
        ("CLICK", "BOT", "burst", "",
         "Several links followed at once, as link scanners do: not counted"),
        ("OPEN", "MACHINE", "empty-user-agent", "",
         "Fetched by a program that gives no user agent: not counted"),
        ("OPEN", "SELF", "self", OUTLOOK, "Opened by you: not counted"),
        ("CLICK", "SELF", "self", OUTLOOK, "Clicked by you: not counted"),
        ("OPEN", "MACHINE", "some-future-rule", "", "Fetched by a machine: not counted"),
    ],
)  # fmt: skip
def test_lines(kind: str, source: str, rule: str, ua: str, expected: str) -> None:
    assert line(kind, source, rule, ua) == expected


def test_a_repeat_says_it_is_counted_once() -> None:
    assert line("OPEN", "HUMAN", "human", OUTLOOK, duplicate=True) == (
        "Opened in Outlook 16 on Windows: a repeat, counted once"
    )


def test_a_person_with_an_unknown_client_just_opened() -> None:
    assert describe_event("OPEN", "HUMAN", "human", False, NOTHING) == "Opened"
    phone = ClientInfo(None, None, None, DeviceType.MOBILE)
    assert describe_event("OPEN", "HUMAN", "human", False, phone) == "Opened on a phone"


def test_apple_mpp_is_named_from_the_rule_not_the_user_agent() -> None:
    # The same bare UA from anywhere but Apple's proxy rule is no Apple proxy.
    assert client_for_event("Mozilla/5.0", "apple-mpp").proxy == APPLE_MPP
    assert client_for_event("Mozilla/5.0", "bare-user-agent").proxy is None
    # An MPP fetch with a WebKit UA from Apple's networks is Apple's proxy too.
    assert client_for_event("Mozilla/5.0 AppleWebKit/605.1.15", "apple-mpp").proxy == APPLE_MPP
