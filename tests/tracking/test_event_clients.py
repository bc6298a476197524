"""Who opened, on what: each event's client and description, each email's opens by device
and client, through the real endpoint, pipeline and GraphQL API."""

from __future__ import annotations

from typing import Any

import httpx

from plugin.tracking.models import TrackingEvent
from tests.conftest import GraphQL, UserFactory
from tests.tracking.tracked_mail import make_tracked_mail, wait_for_events

OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
OUTLOOK_OTHER_BUILD = (
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; "
    ".NET4.0E; Microsoft Outlook 16.0.4266; ms-office; MSOffice 16)"
)
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
APPLE_MPP = "Mozilla/5.0"
CURL = "curl/8.5.0"

QUERY = """query($id: ID!) { sentEmail(id: $id) {
  openCount
  openBreakdown { byDevice { name count } byClient { name count } }
  events(first: 20) { kind source duplicate description
                      client { name version os device proxy } } } }"""


async def _open(http: httpx.AsyncClient, path: str, ua: str) -> None:
    response = await http.get(path, headers={"User-Agent": ua})
    assert response.status_code == 200


async def test_events_say_who_opened_on_what_and_the_email_counts_people_by_device_and_client(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    path = mail.open_path()
    for ua in (OUTLOOK, OUTLOOK_OTHER_BUILD, IPHONE_MAIL, GMAIL_PROXY, APPLE_MPP, CURL):
        await _open(http, path, ua)
    await wait_for_events(mail.email, 6)
    await _open(http, path, OUTLOOK)  # the same client again at once: a repeat
    await wait_for_events(mail.email, 7)

    body = await gql(QUERY, {"id": str(mail.email.id)}, user=user)
    email = body["data"]["sentEmail"]
    assert email["openCount"] == 4
    assert email["openBreakdown"] == {
        "byDevice": [
            {"name": "desktop", "count": 2},
            {"name": "mobile", "count": 1},
            {"name": "unknown", "count": 1},
        ],
        "byClient": [
            {"name": "Outlook", "count": 2},
            {"name": "Apple Mail", "count": 1},
            {"name": "Gmail", "count": 1},
        ],
    }
    described = {(e["description"], e["source"], e["duplicate"]) for e in email["events"]}
    assert described == {
        ("Opened in Outlook 16 on Windows", "HUMAN", False),
        ("Opened in Outlook 16 on Windows: a repeat, counted once", "HUMAN", True),
        ("Opened in Apple Mail on iOS (phone)", "HUMAN", False),
        ("Opened in Gmail (the device is hidden by the Gmail image proxy)", "HUMAN", False),
        ("Prefetched by Apple Mail Privacy Protection: not counted", "MACHINE", False),
        ("Fetched by an HTTP library (curl 8): not counted", "MACHINE", False),
    }
    clients = {e["description"]: e["client"] for e in email["events"]}
    assert clients["Opened in Outlook 16 on Windows"] == {
        "name": "Outlook", "version": "16.0.17328", "os": "Windows 10", "device": "desktop",
        "proxy": None,
    }  # fmt: skip
    assert clients["Prefetched by Apple Mail Privacy Protection: not counted"] == {
        "name": "Apple Mail", "version": None, "os": None, "device": "unknown",
        "proxy": "Apple Mail Privacy Protection",
    }  # fmt: skip
    assert clients["Opened in Gmail (the device is hidden by the Gmail image proxy)"] == {
        "name": "Gmail", "version": None, "os": None, "device": "unknown",
        "proxy": "Gmail image proxy",
    }  # fmt: skip


async def test_an_email_nobody_opened_has_an_empty_breakdown_and_erased_events_leave_it(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    query = "query($id: ID!) { sentEmail(id: $id) { openBreakdown { byDevice { name } } } }"
    body = await gql(query, {"id": str(mail.email.id)}, user=user)
    assert body["data"]["sentEmail"]["openBreakdown"] == {"byDevice": []}

    await _open(http, mail.open_path(), IPHONE_MAIL)
    await wait_for_events(mail.email, 1)
    body = await gql(query, {"id": str(mail.email.id)}, user=user)
    assert body["data"]["sentEmail"]["openBreakdown"] == {"byDevice": [{"name": "mobile"}]}
    # The client is derived from the stored event, never kept apart: once the event is
    # gone (erasure, retention), nothing about the recipient's device is left.
    await TrackingEvent.filter(email_id=mail.email.id).delete()
    body = await gql(query, {"id": str(mail.email.id)}, user=user)
    assert body["data"]["sentEmail"]["openBreakdown"] == {"byDevice": []}


async def test_another_users_breakdown_is_not_there(
    http: httpx.AsyncClient, gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    owner, other = await make_user(), await make_user()
    mail = await make_tracked_mail(settings, owner.id)
    await _open(http, mail.open_path(), OUTLOOK)
    await wait_for_events(mail.email, 1)
    query = "query($id: ID!) { sentEmail(id: $id) { openBreakdown { byClient { name } } } }"
    body = await gql(query, {"id": str(mail.email.id)}, user=other)
    assert body["data"]["sentEmail"] is None
