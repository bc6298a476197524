"""requestTrackingConsent: a pixel-free request reaches a real SMTP server; its link works."""

from __future__ import annotations

import re
from typing import Any

import httpx

from consent.models import ConsentRecord
from plugin.hooks import registry
from tests.consent.factories import unique_address
from tests.sending.helpers import parse, parts

REQUEST = """mutation($email: String!) {
  requestTrackingConsent(email: $email) { email status requiresConsent } }"""


async def _arrived(smtp: Any, recipient: str) -> Any:
    import asyncio

    for _ in range(400):
        found = [e for e in smtp.envelopes if recipient in e.rcpt_tos]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {recipient}")


async def test_the_request_arrives_untracked_with_a_working_link(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any, http: httpx.AsyncClient
) -> None:
    user = await make_user(name="Sales Person")
    anna = unique_address("firma.de")
    body = await gql(REQUEST, {"email": anna}, user=user)
    assert body["data"]["requestTrackingConsent"] == {
        "email": anna,
        "status": "UNKNOWN",
        "requiresConsent": True,
    }
    envelope = await _arrived(smtp_server, anna)
    message = parse(envelope)
    assert message["To"] == anna and user.email in message["From"]
    assert message["Subject"] == "May we track the emails we send you?"
    text, html = parts(message)
    assert "<img" not in html.lower()  # no pixel
    links = re.findall(r'href="([^"]+)"', html)
    assert len(links) == 1 and links[0].startswith(f"{settings.public_url}/consent/")
    assert links[0] in text and settings.consent_text_version in text
    assert settings.consent_text_version in html
    # The link opens the consent page; following it records nothing.
    page = await http.get(links[0].removeprefix(settings.public_url))
    assert page.status_code == 200 and "Allow tracking" in page.text
    assert not await ConsentRecord.filter(recipient=anna).exists()


async def test_the_request_is_italian_for_italian_recipients(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    by_domain, by_host = unique_address("azienda.it"), unique_address("example.com")
    with registry.registered("resolve_recipient_country", lambda e: "IT" if e == by_host else None):
        for address in (by_domain, by_host):
            assert "errors" not in await gql(REQUEST, {"email": address}, user=user)
    for address in (by_domain, by_host):
        message = parse(await _arrived(smtp_server, address))
        assert message["Subject"] == "Possiamo tracciare le email che ti inviamo?"


async def test_a_refusing_mail_server_is_reported(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    anna = unique_address("firma.de")
    smtp_server.refuse[anna] = "550 5.1.1 no such user"
    try:
        body = await gql(REQUEST, {"email": anna}, user=await make_user())
    finally:
        smtp_server.refuse.pop(anna, None)
    assert body["errors"][0]["extensions"]["code"] == "DELIVERY_FAILED"
    assert "no such user" in body["errors"][0]["message"]
