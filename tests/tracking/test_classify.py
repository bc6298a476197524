"""People versus machines: every rule of the classifier (pipeline.classify), with real UAs."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import yaml

from plugin.tracking.pipeline.classify import (
    ClassificationContext,
    ClassifierSettings,
    EventSource,
    Hit,
    HitKind,
    PriorHit,
    Verdict,
    classify,
    in_apple_network,
    in_honeypot_burst,
    is_apple_mpp,
    is_crawler,
    is_duplicate_click,
    is_duplicate_open,
    is_head,
    is_headless,
    is_http_library,
    is_human_proxy,
    is_link_burst,
    is_scanner_ua,
    load_user_agent_rules,
    machine_user_agent_rule,
    within_scanner_window,
)

T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)
SETTINGS = ClassifierSettings()
NO_CONTEXT = ClassificationContext(accepted_at=None, is_self=False, same_client_hits=())

# Real user agents.
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
APPLE_MAIL_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
OUTLOOK_OLD = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.6045.163 Mobile Safari/537.36"
)
SAMSUNG_BOT_MODEL = (  # a phone model that ends in "bot" must not look like a crawler
    "Mozilla/5.0 (Linux; Android 12; KINGKONG 9 Build/SP1A; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/119.0 Mobile Safari/537.36 Cubot"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.71 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
BARRACUDA = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE); +https://barracuda.com)"
SAFE_LINKS_PROBE = "Microsoft Office Existence Discovery"
PROOFPOINT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Proofpoint URL Defense"
HUMAN_UAS = [
    IPHONE_MAIL, APPLE_MAIL_MAC, GMAIL_PROXY, YAHOO_PROXY, OUTLOOK_DESKTOP, OUTLOOK_OLD,
    THUNDERBIRD, CHROME, FIREFOX, SAFARI_IOS, ANDROID_CHROME, SAMSUNG_BOT_MODEL,
]  # fmt: skip

APPLE_IP = "17.58.101.23"
HOME_IP = "203.0.113.7"


def hit(
    kind: HitKind = HitKind.OPEN,
    ua: str = IPHONE_MAIL,
    *,
    ip: str = HOME_IP,
    at: datetime = T0,
    method: str = "GET",
    link: int | None = None,
    honeypot: bool = False,
) -> Hit:
    if kind is HitKind.CLICK and link is None:
        link = 0
    return Hit(kind, method, ua, ip, at, link, honeypot)


def click(ua: str = CHROME, **kwargs: object) -> Hit:
    return hit(HitKind.CLICK, ua, **kwargs)  # type: ignore[arg-type]


def prior(
    kind: HitKind,
    at: datetime,
    *,
    link: int | None = None,
    honeypot: bool = False,
    source: EventSource = EventSource.HUMAN,
    duplicate: bool = False,
) -> PriorHit:
    return PriorHit(kind, at, link, honeypot, source, duplicate)


def ctx(*hits: PriorHit, accepted_at: datetime | None = None) -> ClassificationContext:
    return ClassificationContext(accepted_at=accepted_at, is_self=False, same_client_hits=hits)


def secs(n: float) -> timedelta:
    return timedelta(seconds=n)


# --- user-agent lists -------------------------------------------------------------------


@pytest.mark.parametrize("ua", HUMAN_UAS)
def test_human_user_agents_match_no_machine_list(ua: str) -> None:
    assert machine_user_agent_rule(ua) is None
    assert not is_http_library(ua)
    assert not is_crawler(ua)
    assert not is_scanner_ua(ua)
    assert not is_headless(ua)


@pytest.mark.parametrize("ua", [GMAIL_PROXY, YAHOO_PROXY])
def test_image_proxies_are_human_proxies(ua: str) -> None:
    assert is_human_proxy(ua)
    rules = load_user_agent_rules()
    for category in ("scanners", "headless", "crawlers", "http_libraries", "prefetchers"):
        assert not rules.matches(category, ua), category


@pytest.mark.parametrize(
    "ua",
    [
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Python-urllib/3.11",
        "Python/3.11 aiohttp/3.9.1",
        "python-httpx/0.28.1",
        "Go-http-client/1.1",
        "Go-http-client/2.0",
        "Java/17.0.2",
        "okhttp/4.12.0",
        "Wget/1.21.4",
        "libwww-perl/6.72",
        "Apache-HttpClient/4.5.14 (Java/17.0.8)",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "axios/1.6.2",
        "GuzzleHttp/7",
        "Ruby",
    ],
)
def test_http_libraries(ua: str) -> None:
    assert is_http_library(ua)
    assert machine_user_agent_rule(ua) == "http-library"


@pytest.mark.parametrize(
    "ua",
    [
        GOOGLEBOT,
        BINGBOT,
        FACEBOOK,
        SLACKBOT,
        "Mozilla/5.0 (compatible; SomeNewBot/0.1; +https://example.com/bot)",
        "Twitterbot/1.0",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0)",
    ],
)
def test_crawlers(ua: str) -> None:
    assert is_crawler(ua)
    assert machine_user_agent_rule(ua) == "crawler"


@pytest.mark.parametrize(
    "ua", [BARRACUDA, SAFE_LINKS_PROBE, PROOFPOINT, "Mimecast URL Protect", "TMES/1.0"]
)
def test_scanner_user_agents(ua: str) -> None:
    assert is_scanner_ua(ua)
    assert machine_user_agent_rule(ua) == "scanner-ua"


@pytest.mark.parametrize("ua", [HEADLESS, "Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1"])
def test_headless(ua: str) -> None:
    assert is_headless(ua)
    assert machine_user_agent_rule(ua) == "headless-browser"


def test_matching_is_case_insensitive() -> None:
    assert is_http_library("CURL/8.5.0")
    assert is_human_proxy("googleimageproxy")


def test_every_listed_substring_matches_its_category() -> None:
    # Guards the lowercasing in the compiled patterns: each entry, in any case, matches.
    data = yaml.safe_load(
        resources.files("plugin.tracking.pipeline").joinpath("data/user_agents.yaml").read_text("utf-8")
    )
    rules = load_user_agent_rules()
    for category, spec in data.items():
        for text in spec.get("contains") or ():
            assert rules.matches(category, f"X {text.upper()} Y"), (category, text)
            assert rules.matches(category, text.lower()), (category, text)


def test_rules_are_loaded_once() -> None:
    assert load_user_agent_rules() is load_user_agent_rules()


# --- single-hit rules --------------------------------------------------------------------


def test_is_head() -> None:
    assert is_head(hit(method="HEAD"))
    assert is_head(hit(method=" head "))
    assert not is_head(hit(method="GET"))


@pytest.mark.parametrize(
    ("ip", "inside"),
    [
        ("17.58.101.23", True),
        ("::ffff:17.58.101.23", True),
        ("203.0.113.7", False),
        ("2001:db8::1", False),
        ("not an ip", False),
        ("", False),
    ],
)
def test_in_apple_network(ip: str, inside: bool) -> None:
    assert in_apple_network(ip, SETTINGS) is inside


def test_extra_apple_networks() -> None:
    settings = ClassifierSettings(
        apple_networks=(ipaddress.ip_network("17.0.0.0/8"), ipaddress.ip_network("2a01:b740::/32"))
    )
    assert in_apple_network("2a01:b740::5", settings)


def test_apple_mpp() -> None:
    assert is_apple_mpp(hit(ua="Mozilla/5.0", ip=APPLE_IP), SETTINGS)
    assert is_apple_mpp(hit(ua="  Mozilla/5.0 ", ip=HOME_IP), SETTINGS)
    # From Apple's network, a UA without a platform comment is no real client either.
    assert is_apple_mpp(hit(ua="Mozilla/5.0 AppleWebKit/605.1.15", ip=APPLE_IP), SETTINGS)
    assert not is_apple_mpp(hit(ua="Mozilla/5.0 AppleWebKit/605.1.15", ip=HOME_IP), SETTINGS)
    # Apple's staff read mail with real clients from Apple's addresses.
    assert not is_apple_mpp(hit(ua=IPHONE_MAIL, ip=APPLE_IP), SETTINGS)
    assert not is_apple_mpp(hit(ua="Mozilla/5.0 (iPhone)", ip=HOME_IP), SETTINGS)
    assert not is_apple_mpp(click("Mozilla/5.0", ip=APPLE_IP), SETTINGS)


# --- context rules -----------------------------------------------------------------------


def test_scanner_window() -> None:
    assert within_scanner_window(click(at=T0 + secs(3)), ctx(accepted_at=T0), SETTINGS)
    assert within_scanner_window(click(at=T0 + secs(10)), ctx(accepted_at=T0), SETTINGS)
    assert not within_scanner_window(click(at=T0 + secs(60)), ctx(accepted_at=T0), SETTINGS)
    # Clock skew: "before" the acceptance is as suspicious as right after it.
    assert within_scanner_window(click(at=T0 - secs(1)), ctx(accepted_at=T0), SETTINGS)
    assert not within_scanner_window(click(at=T0), ctx(accepted_at=None), SETTINGS)


def test_honeypot_burst_before_and_after() -> None:
    trap_before = prior(HitKind.CLICK, T0 - secs(1), link=9, honeypot=True)
    trap_after = prior(HitKind.CLICK, T0 + secs(1.5), link=9, honeypot=True)
    trap_late = prior(HitKind.CLICK, T0 + secs(30), link=9, honeypot=True)
    assert in_honeypot_burst(click(at=T0), ctx(trap_before), SETTINGS)
    assert in_honeypot_burst(click(at=T0), ctx(trap_after), SETTINGS)
    assert not in_honeypot_burst(click(at=T0), ctx(trap_late), SETTINGS)
    assert not in_honeypot_burst(click(at=T0), ctx(), SETTINGS)


def test_link_burst() -> None:
    other_soon = prior(HitKind.CLICK, T0 + secs(1), link=2)
    other_before = prior(HitKind.CLICK, T0 - secs(1), link=2)
    other_late = prior(HitKind.CLICK, T0 + secs(5), link=2)
    same_link = prior(HitKind.CLICK, T0 + secs(1), link=1)
    an_open = prior(HitKind.OPEN, T0 + secs(1))
    assert is_link_burst(click(at=T0, link=1), ctx(other_soon), SETTINGS)
    assert is_link_burst(click(at=T0, link=1), ctx(other_before), SETTINGS)
    assert not is_link_burst(click(at=T0, link=1), ctx(other_late), SETTINGS)
    assert not is_link_burst(click(at=T0, link=1), ctx(same_link), SETTINGS)
    assert not is_link_burst(click(at=T0, link=1), ctx(an_open), SETTINGS)
    assert not is_link_burst(hit(at=T0), ctx(other_soon), SETTINGS)


def test_duplicate_open() -> None:
    counted = prior(HitKind.OPEN, T0 - secs(4))
    assert is_duplicate_open(hit(at=T0), ctx(counted), SETTINGS)
    assert not is_duplicate_open(hit(at=T0 + secs(20)), ctx(counted), SETTINGS)
    # Only a counted HUMAN open starts a window.
    machine = prior(HitKind.OPEN, T0 - secs(4), source=EventSource.MACHINE)
    repeat = prior(HitKind.OPEN, T0 - secs(4), duplicate=True)
    assert not is_duplicate_open(hit(at=T0), ctx(machine), SETTINGS)
    assert not is_duplicate_open(hit(at=T0), ctx(repeat), SETTINGS)
    # An open recorded after a later counted one of its client (two consumers raced, or a
    # dead worker's batch was taken over) is the repeat; one at the same instant is not.
    assert is_duplicate_open(hit(at=T0), ctx(prior(HitKind.OPEN, T0 + secs(2))), SETTINGS)
    assert not is_duplicate_open(hit(at=T0), ctx(prior(HitKind.OPEN, T0 + secs(20))), SETTINGS)
    assert not is_duplicate_open(hit(at=T0), ctx(prior(HitKind.OPEN, T0)), SETTINGS)


def test_duplicate_click_needs_the_same_link() -> None:
    same = prior(HitKind.CLICK, T0 - secs(3), link=1)
    other = prior(HitKind.CLICK, T0 - secs(3), link=2)
    assert is_duplicate_click(click(at=T0, link=1), ctx(same), SETTINGS)
    assert not is_duplicate_click(click(at=T0, link=1), ctx(other), SETTINGS)
    assert not is_duplicate_click(click(at=T0 + secs(30), link=1), ctx(same), SETTINGS)


# --- classify: opens ---------------------------------------------------------------------


def verdict(h: Hit, c: ClassificationContext = NO_CONTEXT) -> Verdict:
    return classify(h, c, SETTINGS)


@pytest.mark.parametrize("ua", HUMAN_UAS)
def test_people_opening_are_human(ua: str) -> None:
    assert verdict(hit(ua=ua)) == Verdict(EventSource.HUMAN, "human", duplicate=False)


def test_iphone_mail_from_apple_network_is_human() -> None:
    assert verdict(hit(ua=IPHONE_MAIL, ip=APPLE_IP)).source is EventSource.HUMAN


@pytest.mark.parametrize("ip", [APPLE_IP, HOME_IP])
def test_apple_mpp_open_is_machine(ip: str) -> None:
    assert verdict(hit(ua="Mozilla/5.0", ip=ip)) == Verdict(EventSource.MACHINE, "apple-mpp")


@pytest.mark.parametrize(
    ("ua", "rule"),
    [
        ("curl/8.5.0", "http-library"),
        ("python-requests/2.32.3", "http-library"),
        ("Go-http-client/1.1", "http-library"),
        (GOOGLEBOT, "crawler"),
        (BARRACUDA, "scanner-ua"),
        (HEADLESS, "headless-browser"),
        ("Litmus (+https://litmus.com)", "prefetcher"),
        ("", "empty-user-agent"),
        ("   ", "empty-user-agent"),
    ],
)
def test_machine_opens(ua: str, rule: str) -> None:
    assert verdict(hit(ua=ua)) == Verdict(EventSource.MACHINE, rule)


def test_head_on_pixel_is_machine() -> None:
    assert verdict(hit(method="HEAD")) == Verdict(EventSource.MACHINE, "head-request")


def test_open_in_a_honeypot_burst_is_machine() -> None:
    trap = prior(HitKind.CLICK, T0 + secs(1), link=9, honeypot=True)
    assert verdict(hit(at=T0), ctx(trap)) == Verdict(EventSource.MACHINE, "honeypot-burst")


def test_open_soon_after_delivery_is_still_human() -> None:
    # People with their mail client open do read new mail within seconds.
    assert verdict(hit(at=T0 + secs(2)), ctx(accepted_at=T0)).source is EventSource.HUMAN


def test_duplicate_open_is_human_but_flagged() -> None:
    counted = prior(HitKind.OPEN, T0 - secs(4))
    assert verdict(hit(at=T0), ctx(counted)) == Verdict(EventSource.HUMAN, "human", True)
    assert verdict(hit(at=T0 + secs(11)), ctx(counted)).duplicate is False


# --- classify: clicks --------------------------------------------------------------------


@pytest.mark.parametrize("ua", [CHROME, FIREFOX, SAFARI_IOS, ANDROID_CHROME, OUTLOOK_DESKTOP])
def test_people_clicking_are_human(ua: str) -> None:
    assert verdict(click(ua)) == Verdict(EventSource.HUMAN, "human")


@pytest.mark.parametrize(
    ("ua", "rule"),
    [
        (HEADLESS, "headless-browser"),
        (BARRACUDA, "scanner-ua"),
        (SAFE_LINKS_PROBE, "scanner-ua"),
        (PROOFPOINT, "scanner-ua"),
        ("python-requests/2.32.3", "http-library"),
        ("curl/8.5.0", "http-library"),
        (GOOGLEBOT, "crawler"),
        ("", "empty-user-agent"),
        ("Mozilla/5.0", "bare-user-agent"),
    ],
)
def test_bot_clicks(ua: str, rule: str) -> None:
    assert verdict(click(ua)) == Verdict(EventSource.BOT, rule)


def test_head_click_is_bot() -> None:
    assert verdict(click(method="HEAD")) == Verdict(EventSource.BOT, "head-request")


def test_honeypot_click_is_bot() -> None:
    assert verdict(click(honeypot=True, link=9)) == Verdict(EventSource.BOT, "honeypot")


@pytest.mark.parametrize("offset", [-1.5, 1.5])
def test_every_click_in_a_honeypot_burst_is_bot(offset: float) -> None:
    trap = prior(HitKind.CLICK, T0 + secs(offset), link=9, honeypot=True)
    assert verdict(click(at=T0, link=1), ctx(trap)) == Verdict(EventSource.BOT, "honeypot-burst")


def test_click_long_after_a_honeypot_hit_is_human() -> None:
    trap = prior(HitKind.CLICK, T0 - secs(60), link=9, honeypot=True)
    assert verdict(click(at=T0, link=1), ctx(trap)).source is EventSource.HUMAN


def test_link_burst_is_bot() -> None:
    other = prior(HitKind.CLICK, T0 + secs(1), link=2)
    assert verdict(click(at=T0, link=1), ctx(other)) == Verdict(EventSource.BOT, "burst")


def test_two_links_five_seconds_apart_are_human() -> None:
    other = prior(HitKind.CLICK, T0 - secs(5), link=2)
    assert verdict(click(at=T0, link=1), ctx(other)).source is EventSource.HUMAN


def test_same_link_twice_is_a_human_duplicate_not_a_burst() -> None:
    first = prior(HitKind.CLICK, T0 - secs(1), link=1)
    assert verdict(click(at=T0, link=1), ctx(first)) == Verdict(EventSource.HUMAN, "human", True)


def test_scanner_window_click_is_bot() -> None:
    early = click(at=T0 + secs(3))
    assert verdict(early, ctx(accepted_at=T0)) == Verdict(EventSource.BOT, "scanner-window")
    late = click(at=T0 + secs(60))
    assert verdict(late, ctx(accepted_at=T0)) == Verdict(EventSource.HUMAN, "human")
    assert verdict(early, ctx(accepted_at=None)) == Verdict(EventSource.HUMAN, "human")


# --- SELF wins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h",
    [
        hit(ua="Mozilla/5.0", ip=APPLE_IP),
        hit(ua="curl/8.5.0"),
        click(HEADLESS, honeypot=True),
        click(method="HEAD"),
        hit(ua=IPHONE_MAIL),
    ],
)
def test_self_wins(h: Hit) -> None:
    own = ClassificationContext(accepted_at=T0, is_self=True, same_client_hits=())
    assert classify(h, own, SETTINGS) == Verdict(EventSource.SELF, "self")


# --- validation and defaults -------------------------------------------------------------


def test_default_settings() -> None:
    assert classify(hit(), NO_CONTEXT) == Verdict(EventSource.HUMAN, "human")
    assert in_apple_network(APPLE_IP, ClassifierSettings())


@pytest.mark.parametrize(
    "field", ["scanner_window_seconds", "burst_window_seconds", "duplicate_window_seconds"]
)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_settings_reject_bad_windows(field: str, bad: float) -> None:
    with pytest.raises(ValueError, match=field):
        ClassifierSettings(**{field: bad})  # type: ignore[arg-type]


def test_naive_times_are_rejected() -> None:
    naive = datetime(2026, 11, 30, 9, 0, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        hit(at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        prior(HitKind.OPEN, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        ClassificationContext(accepted_at=naive)


def test_raw_ip_stays_out_of_repr() -> None:
    assert HOME_IP not in repr(hit(ip=HOME_IP))
