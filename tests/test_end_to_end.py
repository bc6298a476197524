"""The whole product in one story: a salesperson sends a real email, the prospect opens it
and clicks, and the salesperson sees it on the email and in the bell, live; nobody else does."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.sending.models import EmailCopy
from tests.conftest import GraphQL, UserFactory
from tests.corpus import HTML_EMAILS
from tests.live.factories import wait_for_subscribers
from tests.live.wsclient import GraphQLWS
from tests.sending.helpers import mail_from, parse, parts, send
from tests.tracking.tracked_mail import THUNDERBIRD_UA, wait_until

MAIL_TAB = """query($id: ID!) { sentEmail(id: $id) {
    status tracked opened openCount clicked clickCount
    links { url clickCount } events { kind source url } } }"""
BELL = "subscription { notifications { kind count url email { id subject } } }"


def _tracking_urls(html: str, public_url: str) -> tuple[str, list[str]]:
    """The pixel URL and the tracked link URLs that the received HTML carries."""
    urls = [unescape(u) for u in re.findall(r'(?:src|href)="([^"]+)"', html)]
    pixel = next(u for u in urls if u.startswith(f"{public_url}/t/o/"))
    links = [u for u in urls if u.startswith(f"{public_url}/t/c/")]
    return pixel, links


async def test_send_open_click_see_it_live_and_alone(
    server: str,
    settings: Any,
    gql: GraphQL,
    make_user: UserFactory,
    smtp_server: Any,
    http: httpx.AsyncClient,
) -> None:
    sender, colleague = await make_user(name="Sam Seller"), await make_user()
    newsletter = next(p for p in HTML_EMAILS if p.name.startswith("019-")).read_text()
    payload = await send(
        gql,
        sender,
        to=["prospect@example.com"],
        subject="Our offer",
        html=newsletter,
        trackOpens=True,
        trackLinks=True,
    )
    assert payload["errors"] == [] and payload["tracking"]["opens"] is True
    email_id = payload["email"]["id"]

    [envelope] = await mail_from(smtp_server, sender.email)
    message = parse(envelope)
    assert message["Subject"] == "Our offer" and "Sam Seller" in message["From"]
    _, html = parts(message)
    pixel, links = _tracking_urls(html, settings.public_url)
    assert links, "the newsletter's links are tracked"

    async with (
        await GraphQLWS.connect(server, sender.token) as bell,
        await GraphQLWS.connect(server, colleague.token) as other_bell,
    ):
        await bell.subscribe(BELL)
        await other_bell.subscribe(BELL)
        await wait_for_subscribers(sender.id)
        await wait_for_subscribers(colleague.id)

        # The prospect opens the mail in Thunderbird.
        opened = await http.get(urlsplit(pixel).path, headers={"User-Agent": THUNDERBIRD_UA})
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        ring = (await bell.next_data(20))["notifications"]
        assert ring["kind"] == "EMAIL_OPENED" and ring["email"] == {
            "id": email_id,
            "subject": "Our offer",
        }

        # Later (past the scanner window) the prospect clicks the first link.
        await EmailCopy.filter(email_id=int(email_id)).update(
            accepted_at=(await EmailCopy.get(email_id=int(email_id))).accepted_at
            - timedelta(minutes=5)
        )
        clicked = await http.get(urlsplit(links[0]).path, headers={"User-Agent": THUNDERBIRD_UA})
        assert clicked.status_code == 302
        ring = (await bell.next_data(20))["notifications"]
        assert ring["kind"] == "LINK_CLICKED" and ring["url"] == clicked.headers["location"]
        assert await other_bell.silent_for(0.3)

    async def counted() -> bool:
        mail = (await gql(MAIL_TAB, {"id": email_id}, user=sender))["data"]["sentEmail"]
        return bool(mail["opened"] and mail["clicked"])

    await wait_until(counted, 20)
    mail = (await gql(MAIL_TAB, {"id": email_id}, user=sender))["data"]["sentEmail"]
    assert (mail["status"], mail["tracked"], mail["openCount"], mail["clickCount"]) == (
        "SENT",
        True,
        1,
        1,
    )
    assert [link["clickCount"] for link in mail["links"] if link["url"] == ring["url"]] == [1]
    assert {(e["kind"], e["source"]) for e in mail["events"]} >= {
        ("OPEN", "HUMAN"),
        ("CLICK", "HUMAN"),
    }

    # The tracking belongs to the sender alone: a colleague sees no such email.
    assert (await gql(MAIL_TAB, {"id": email_id}, user=colleague))["data"]["sentEmail"] is None
    tracked = await gql(
        "{ sentEmails(filter: {tracked: true, opened: true}) { totalCount } }", user=colleague
    )
    assert tracked["data"]["sentEmails"]["totalCount"] == 0
