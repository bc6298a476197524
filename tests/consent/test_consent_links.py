"""A link that can record a choice reaches only the recipient it names (finding 1, issue 11).

A shared message to ``anna@firma.ch`` and cc ``beat@andere.ch`` used to carry both
recipients' "Stop tracking" links, so Anna could decline and then allow tracking as
Beat; the links never expired. Now a shared message carries one message-level link
(it stops that message's tracking, and mails a recipient its personal link, to that
recipient alone); per-recipient copies carry their recipient's personal link; a grant
comes only from a personal link; every link expires.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from consent.models import ConsentRecord
from consent.signing import LinkKind, keys_for
from plugin.runtime import current_runtime
from plugin.sending.models import EmailCopy
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.ingest import ingest_hits
from tests.consent.factories import unique_address
from tests.sending.helpers import parse, parts, send
from tests.tracking.tracked_mail import make_tracked_mail, wire_hit

LINK = re.compile(r'href="(http[^"]*/consent/([^"]+))"')
FORM_FIELD = re.compile(r'name="form" value="([^"]+)"')


async def _mails_to(smtp: Any, recipient: str, count: int = 1) -> list[Any]:
    for _ in range(400):
        found = [e for e in smtp.envelopes if recipient in e.rcpt_tos]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} mail(s) to {recipient}, got {len(found)}")


def _consent_links(envelope: Any) -> list[tuple[str, str]]:
    _, html = parts(parse(envelope))
    return LINK.findall(html)


async def _form(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    assert page.status_code == 200, page.text
    match = FORM_FIELD.search(page.text)
    assert match is not None
    return match.group(1)


async def _shared_message(gql: Any, make_user: Any, smtp: Any) -> tuple[Any, str, str, Any]:
    """The finding's message: to Anna, cc Beat (both Swiss: opt-out, so it is tracked)."""
    user = await make_user()
    anna, beat = unique_address("firma.ch"), unique_address("andere.ch")
    payload = await send(gql, user, to=[anna], cc=[beat], html="<p>Offer</p>")
    assert payload["tracking"]["opens"], payload
    (envelope,) = await _mails_to(smtp, anna)
    return user, anna, beat, envelope


async def test_a_shared_message_carries_one_message_link_and_no_personal_one(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any, http: httpx.AsyncClient
) -> None:
    _, anna, beat, envelope = await _shared_message(gql, make_user, smtp_server)
    (url, token), = _consent_links(envelope)
    claim = keys_for(settings).verify_link(token)
    assert claim is not None and claim.kind is LinkKind.MESSAGE and not claim.expired
    copy = await EmailCopy.get(public_id=claim.subject)
    assert copy.recipient is None and sorted(copy.envelope_to) == sorted([anna, beat])
    text, html = parts(parse(envelope))
    assert "Stop tracking this message" in html and url in text
    assert beat not in html.split("Stop tracking")[-1]  # no per-recipient link or label

    # Anna, holding the shared mail, tries the finding's attack on Beat's consent.
    path = url.removeprefix(settings.public_url)
    page = await http.get(path)
    assert 'value="grant"' not in page.text and 'value="decline"' not in page.text
    for choice in ("decline", "grant"):
        answer = await http.post(path, data={"form": await _form(http, path), "choice": choice})
        assert answer.status_code == 400
    assert await ConsentRecord.filter(recipient__in=[anna, beat]).count() == 0


async def test_the_message_link_stops_that_message_for_everyone_and_nothing_else(
    http: httpx.AsyncClient, make_user: Any, settings: Any
) -> None:
    user = await make_user()
    anna, beat = unique_address("firma.ch"), unique_address("andere.ch")
    mail = await make_tracked_mail(settings, user.id, recipients=(anna, beat))
    other = await make_tracked_mail(settings, user.id, recipients=(anna, beat))
    public_id = mail.copies[0].public_id
    token = keys_for(settings).sign_message_link(public_id, expires_at=time.time() + 3600)
    path = f"/consent/{token}"
    answer = await http.post(path, data={"form": await _form(http, path), "choice": "stop"})
    assert answer.status_code == 200 and "no longer recorded" in answer.text
    assert (await EmailCopy.get(public_id=public_id)).tracking_stopped_at is not None
    assert "Tracking of this email is stopped." in (await http.get(path)).text

    hits = [wire_hit(mail, at=time.time()), wire_hit(other, at=time.time())]
    await ingest_hits(hits, current_runtime())
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 0
    assert await TrackingEvent.filter(email_id=other.email.id).count() == 1  # not that one
    # No one's consent changed: the message link records no choice.
    assert await ConsentRecord.filter(recipient__in=[anna, beat]).count() == 0


async def test_per_recipient_copies_carry_their_own_personal_link(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    anna, beat = unique_address("firma.ch"), unique_address("andere.ch")
    await send(gql, user, to=[anna], cc=[beat], html="<p>Offer</p>", trackPerRecipient=True)
    for recipient in (anna, beat):
        (envelope,) = await _mails_to(smtp_server, recipient)
        assert envelope.rcpt_tos == [recipient]
        (_, token), = _consent_links(envelope)
        claim = keys_for(settings).verify_link(token)
        assert claim is not None and (claim.kind, claim.subject) == (LinkKind.PERSONAL, recipient)


async def test_a_personal_link_is_mailed_to_that_recipient_alone_once_a_day(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any, http: httpx.AsyncClient
) -> None:
    user, anna, beat, envelope = await _shared_message(gql, make_user, smtp_server)
    (url, _), = _consent_links(envelope)
    path = url.removeprefix(settings.public_url)
    stranger = unique_address("evil.example")

    async def ask(address: str) -> httpx.Response:
        data = {"form": await _form(http, path), "choice": "send-link", "email": address}
        return await http.post(path, data=data)

    answers = [await ask(beat), await ask(stranger), await ask(beat.upper())]
    # The same answer whether or not the address was on the message (bar the fresh form).
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({FORM_FIELD.sub("", a.text) for a in answers}) == 1
    assert "on its way" in answers[0].text

    await _mails_to(smtp_server, beat, count=2)  # the message (cc), and the personal link
    personal = [e for e in smtp_server.envelopes if e.rcpt_tos == [beat]]
    assert len(personal) == 1  # once a day, however often it is asked for
    message = parse(personal[0])
    assert message["To"] == beat and message["Cc"] is None and user.email in message["From"]
    _, html = parts(message)
    assert "<img" not in html.lower()  # pixel-free
    (link_url, token), = LINK.findall(html)
    claim = keys_for(settings).verify_link(token)
    assert claim is not None and (claim.kind, claim.subject) == (LinkKind.PERSONAL, beat)
    await asyncio.sleep(0.2)
    assert not [e for e in smtp_server.envelopes if stranger in e.rcpt_tos]

    # Beat's own link records Beat's own choice.
    own = link_url.removeprefix(settings.public_url)
    answer = await http.post(own, data={"form": await _form(http, own), "choice": "decline"})
    assert answer.status_code == 200
    records = await ConsentRecord.filter(recipient=beat)
    assert [(r.status.value, r.by_recipient, r.source) for r in records] == [
        ("DENIED", True, "consent page")
    ]
    assert await ConsentRecord.filter(recipient=anna).count() == 0


async def test_a_bcc_recipient_can_ask_for_its_link(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any, http: httpx.AsyncClient
) -> None:
    user = await make_user()
    anna, hidden = unique_address("firma.ch"), unique_address("andere.ch")
    await send(gql, user, to=[anna], bcc=[hidden], html="<p>Offer</p>")
    (envelope,) = await _mails_to(smtp_server, anna)
    (url, _), = _consent_links(envelope)
    path = url.removeprefix(settings.public_url)
    data = {"form": await _form(http, path), "choice": "send-link", "email": hidden}
    assert (await http.post(path, data=data)).status_code == 200
    personal = await _mails_to(smtp_server, hidden, count=2)
    # The shared message (one envelope), then the personal link to that address alone.
    assert [e.rcpt_tos for e in personal][1] == [hidden]


async def test_a_request_email_carries_a_personal_link(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    anna = unique_address("firma.de")
    await gql("mutation($e: String!) { requestTrackingConsent(email: $e) { email } }",
              {"e": anna}, user=user)
    (envelope,) = await _mails_to(smtp_server, anna)
    assert envelope.rcpt_tos == [anna]
    (_, token), = _consent_links(envelope)
    claim = keys_for(settings).verify_link(token)
    assert claim is not None and (claim.kind, claim.subject) == (LinkKind.PERSONAL, anna)
    days = (claim.expires_at - time.time()) / 86_400
    assert settings.consent_link_days - 1 < days <= settings.consent_link_days


@pytest.mark.parametrize("kind", ["personal", "message"])
async def test_an_expired_link_records_nothing(
    http: httpx.AsyncClient, make_user: Any, settings: Any, kind: str
) -> None:
    user = await make_user()
    anna = unique_address("firma.de")
    mail = await make_tracked_mail(settings, user.id, recipients=(anna, unique_address("x.ch")))
    keys = keys_for(settings)
    past = time.time() - 1
    token = (
        keys.sign_personal_link(anna, expires_at=past)
        if kind == "personal"
        else keys.sign_message_link(mail.copies[0].public_id, expires_at=past)
    )
    page = await http.get(f"/consent/{token}")
    assert page.status_code == 410 and "expired" in page.text
    form = keys.sign_form(anna, "consent-choice")
    for choice in ("grant", "decline", "stop", "send-link"):
        answer = await http.post(f"/consent/{token}", data={"form": form, "choice": choice})
        assert answer.status_code == 410
    assert await ConsentRecord.filter(recipient=anna).count() == 0
    assert (await EmailCopy.get(id=mail.copies[0].id)).tracking_stopped_at is None


async def test_links_of_the_old_format_are_refused(
    http: httpx.AsyncClient, settings: Any
) -> None:
    # Version 1 named a recipient, never expired, and went into shared messages.
    import base64
    import hmac

    secret = settings.secret_keys[0].encode()
    key = hmac.digest(secret, b"mailbeacon/consent-link/v1", "sha256")
    body = b"\x01" + unique_address("andere.ch").encode()
    raw = body + hmac.digest(key, body, "sha256")[:16]
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert (await http.get(f"/consent/{token}")).status_code == 400
