"""Every classification rule end to end: stored with its verdict, only people counted."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.runtime import current_runtime
from plugin.sending.models import SentEmail, TrackedLink
from plugin.tracking.edge.hits import client_hash, client_prefix, credential_hash
from plugin.tracking.edge.routes import tracking_routes
from plugin.tracking.pipeline.held_clicks import decide_held_clicks
from plugin.tracking.pipeline.ingest import ingest_hits
from plugin.tracking.pipeline.store import PENDING_RULE
from tests.conftest import GraphQL, UserFactory
from tests.tracking.tracked_mail import (
    BROWSER_UA,
    THUNDERBIRD_UA,
    events_of,
    make_tracked_mail,
    wait_for_events,
    wire_hit,
)

IPHONE_MAIL_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"  # noqa: E501
GMAIL_PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY_UA = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"


async def _verdicts(email: SentEmail) -> list[tuple[str, str, str, bool]]:
    return [(e.kind.value, e.source.value, e.rule, e.duplicate) for e in await events_of(email)]


async def _refresh(email: SentEmail) -> SentEmail:
    return await SentEmail.get(id=email.id)


@pytest.mark.parametrize(
    ("ua", "method", "source", "rule"),
    [
        ("Mozilla/5.0", "GET", "MACHINE", "apple-mpp"),
        ("", "GET", "MACHINE", "empty-user-agent"),
        ("curl/8.5.0", "GET", "MACHINE", "http-library"),
        ("python-requests/2.32.3", "GET", "MACHINE", "http-library"),
        ("Go-http-client/1.1", "GET", "MACHINE", "http-library"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "GET",
            "MACHINE",
            "crawler",
        ),
        (THUNDERBIRD_UA, "HEAD", "MACHINE", "head-request"),
        (GMAIL_PROXY_UA, "GET", "HUMAN", "human"),
        (YAHOO_PROXY_UA, "GET", "HUMAN", "human"),
        (THUNDERBIRD_UA, "GET", "HUMAN", "human"),
    ],
)
async def test_open_rules_through_the_endpoint(
    http: httpx.AsyncClient,
    make_user: UserFactory,
    settings: Any,
    ua: str,
    method: str,
    source: str,
    rule: str,
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    response = await http.request(method, mail.open_path(), headers={"User-Agent": ua})
    assert response.status_code == 200
    [event] = await wait_for_events(mail.email, 1)
    assert (event.source.value, event.rule) == (source, rule)
    email = await _refresh(mail.email)
    assert email.open_count == (1 if source == "HUMAN" else 0)


@pytest.mark.parametrize(
    ("ua", "method", "rule"),
    [
        ("python-requests/2.32.3", "GET", "http-library"),
        ("Mozilla/5.0", "GET", "bare-user-agent"),
        (BROWSER_UA.replace("Chrome/", "HeadlessChrome/"), "GET", "headless-browser"),
        (BROWSER_UA + " Barracuda/1.0", "GET", "scanner-ua"),
        (BROWSER_UA, "HEAD", "head-request"),
    ],
)
async def test_machine_clicks_are_bots_at_once(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any, ua: str, method: str, rule: str
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    response = await http.request(method, mail.click_path(1), headers={"User-Agent": ua})
    assert response.status_code == 302
    [event] = await wait_for_events(mail.email, 1)
    assert (event.source.value, event.rule) == ("BOT", rule)
    assert (await _refresh(mail.email)).click_count == 0


async def test_a_human_click_is_held_for_the_burst_window_then_counted(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    await http.get(mail.click_path(2), headers={"User-Agent": BROWSER_UA})
    [held] = await wait_for_events(mail.email, 1, decided_only=False)
    assert held.rule == PENDING_RULE
    query = "query($id: ID!) { sentEmail(id: $id) { clicked clickCount events { kind source } } }"
    body = await gql(query, {"id": str(mail.email.id)}, user=user)
    assert body["data"]["sentEmail"] == {"clicked": False, "clickCount": 0, "events": []}
    [event] = await wait_for_events(mail.email, 1, timeout=20)  # decided after ~2.5 s
    assert (event.source.value, event.rule, event.duplicate) == ("HUMAN", "human", False)
    email = await _refresh(mail.email)
    assert email.click_count == 1 and email.first_clicked_at == event.occurred_at
    link = await TrackedLink.get(email_id=mail.email.id, position=2)
    assert link.click_count == 1 and link.last_clicked_at == event.occurred_at
    body = await gql(query, {"id": str(mail.email.id)}, user=user)
    assert body["data"]["sentEmail"] == {
        "clicked": True,
        "clickCount": 1,
        "events": [{"kind": "CLICK", "source": "HUMAN"}],
    }


async def test_a_click_within_seconds_of_acceptance_is_a_scanner(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id, accepted_seconds_ago=3)
    hit = wire_hit(mail, kind="C", link=1, ua=BROWSER_UA, at=time.time())
    await ingest_hits([hit], current_runtime())
    assert await _verdicts(mail.email) == [("CLICK", "BOT", "scanner-window", False)]


async def test_honeypot_and_every_click_of_its_burst_are_bots(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    human_looking = wire_hit(mail, kind="C", link=1, ua=BROWSER_UA, at=now)
    honeypot = wire_hit(mail, kind="C", honeypot=True, ua=BROWSER_UA, at=now + 1.0)
    other_person = wire_hit(mail, kind="C", link=1, ua=BROWSER_UA, ip="198.51.100.8", at=now + 1)
    await ingest_hits([human_looking], current_runtime())  # held: the honeypot comes a second later
    await ingest_hits([honeypot, other_person], current_runtime())
    await decide_held_clicks([human_looking["id"], other_person["id"]], current_runtime().settings)
    by_ip = {
        e.client_hash: (e.source.value, e.rule)
        for e in await events_of(mail.email)
        if not e.honeypot
    }
    assert by_ip == {
        client_hash(settings, "198.51.100.7"): ("BOT", "honeypot-burst"),
        client_hash(settings, "198.51.100.8"): ("HUMAN", "human"),  # behind the same /24
    }
    assert (await _refresh(mail.email)).click_count == 1


async def test_several_links_clicked_in_a_burst_are_bots(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(
        settings, user.id, urls=["https://a.example/", "https://b.example/", "https://c.example/"]
    )
    now = time.time()
    hits = [wire_hit(mail, kind="C", link=i, ua=BROWSER_UA, at=now + 0.4 * i) for i in (1, 2, 3)]
    later = wire_hit(mail, kind="C", link=1, ua=BROWSER_UA, at=now + 60)  # a person, later
    await ingest_hits(hits, current_runtime())
    await ingest_hits([later], current_runtime())
    await decide_held_clicks([h["id"] for h in [*hits, later]], current_runtime().settings)
    assert await _verdicts(mail.email) == [("CLICK", "BOT", "burst", False)] * 3 + [
        ("CLICK", "HUMAN", "human", False)
    ]
    email = await _refresh(mail.email)
    assert email.click_count == 1
    assert [
        link.click_count
        for link in await TrackedLink.filter(email_id=email.id).order_by("position")
    ] == [1, 0, 0]


async def test_repeats_by_the_same_client_are_duplicates_not_counts(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    t = time.time() - 100
    batch = [
        wire_hit(mail, at=t),
        wire_hit(mail, at=t + 3),  # same client, same pixel, within 10 s: one open
        wire_hit(mail, at=t + 4, ua=IPHONE_MAIL_UA),  # same address, another client
        wire_hit(mail, at=t + 5, ip="198.51.100.99"),  # same UA, another address
        wire_hit(mail, at=t + 30),  # the first client again, later: a new open
        wire_hit(mail, at=t + 31, kind="C", link=1, ua=BROWSER_UA),
        wire_hit(mail, at=t + 33, kind="C", link=1, ua=BROWSER_UA),  # double click
    ]
    await ingest_hits(batch[:3], current_runtime())
    await ingest_hits(batch[3:], current_runtime())
    await decide_held_clicks([h["id"] for h in batch[5:]], current_runtime().settings)
    assert [(s, d) for _, s, _, d in await _verdicts(mail.email)] == [
        ("HUMAN", False),
        ("HUMAN", True),
        ("HUMAN", False),
        ("HUMAN", False),
        ("HUMAN", False),
        ("HUMAN", False),
        ("HUMAN", True),
    ]
    email = await _refresh(mail.email)
    assert (email.open_count, email.click_count) == (4, 1)
    assert email.first_opened_at == datetime.fromtimestamp(t, UTC)
    assert email.last_opened_at == datetime.fromtimestamp(t + 30, UTC)


async def test_the_senders_own_clients_are_self(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    sender, colleague = await make_user(), await make_user()
    mail = await make_tracked_mail(settings, sender.id)
    # The sender looks at its sent mail from this machine, then its mail client loads the pixel.
    own_ua = "Mozilla/5.0 (X11; Linux x86_64) SenderDesk/1.0"
    colleague_ua = "Mozilla/5.0 (X11; Linux x86_64) ColleagueDesk/1.0"
    assert (await gql("{ me { email } }", user=sender, headers={"User-Agent": own_ua}))["data"]
    assert (await gql("{ me { email } }", user=colleague, headers={"User-Agent": colleague_ua}))[
        "data"
    ]
    await http.get(mail.open_path(), headers={"User-Agent": own_ua})
    await http.get(mail.open_path(), headers={"User-Agent": colleague_ua})
    token_ua = "Mozilla/5.0 (X11; Linux x86_64) UnseenDesk/1.0"  # never seen with a session
    await http.get(
        mail.open_path(),
        headers={"Authorization": f"Bearer {sender.token}", "User-Agent": token_ua},
    )
    await http.get(
        mail.click_path(1),
        headers={"Authorization": f"Bearer {colleague.token}", "User-Agent": THUNDERBIRD_UA},
    )
    events = await wait_for_events(mail.email, 3)
    by_ua = {(e.kind.value, e.user_agent): e.source.value for e in events}
    assert by_ua[("OPEN", own_ua)] == "SELF"
    assert by_ua[("OPEN", colleague_ua)] == "HUMAN"  # another user's client is not the sender's
    assert by_ua[("OPEN", token_ua)] == "SELF"  # carried the sender's token
    assert (await _refresh(mail.email)).open_count == 1


async def test_per_recipient_copies_name_their_recipient(
    make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(
        settings, user.id, recipients=["ada@example.org", "bob@example.org"], per_recipient=True
    )
    await ingest_hits([wire_hit(mail, at=time.time(), copy=1)], current_runtime())
    [event] = await events_of(mail.email)
    assert event.recipient == "bob@example.org"


async def test_apple_networks_and_trusted_proxies(make_user: UserFactory, settings: Any) -> None:
    """The client is the socket peer unless that peer is a trusted proxy."""
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    proxied = replace(settings, trusted_proxies=(__import__("ipaddress").ip_network("10.0.0.0/8"),))
    app = Starlette(routes=tracking_routes(proxied))

    async def fetch(peer: str, headers: dict[str, str]) -> None:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get(mail.open_path(), headers=headers)).status_code == 200

    await fetch(
        "10.1.2.3", {"X-Forwarded-For": "6.6.6.6, 17.1.2.3", "User-Agent": "AppleMailProxy"}
    )
    await fetch("10.1.2.3", {"Forwarded": 'for="[2001:db8:aa:bb::1]:443"', "User-Agent": "B (x)"})
    await fetch("192.0.2.50", {"X-Forwarded-For": "17.1.2.3", "User-Agent": "C (x)"})  # untrusted
    await fetch("10.1.2.3", {"X-Forwarded-For": "17.9.9.9", "User-Agent": IPHONE_MAIL_UA})
    events = {e.user_agent: e for e in await wait_for_events(mail.email, 4)}
    apple = events["AppleMailProxy"]
    assert (apple.source.value, apple.rule) == ("MACHINE", "apple-mpp")
    assert apple.client_hash == client_hash(settings, "17.1.2.3")
    assert apple.client_prefix == client_prefix("17.1.2.3") == "17.1.2.0/24"
    assert events["B (x)"].client_prefix == "2001:db8:aa::/48"
    assert events["C (x)"].client_hash == client_hash(settings, "192.0.2.50")
    assert events[IPHONE_MAIL_UA].source.value == "HUMAN"  # Apple staff read mail too
    # No raw address is stored anywhere on the event.
    for event in events.values():
        assert "17.1.2.3" not in repr(event.__dict__) and len(event.client_hash) == 64


async def test_credentials_are_hashed_before_they_travel() -> None:
    assert credential_hash("mb_secret") != "mb_secret" and len(credential_hash("mb_x")) == 64
