"""Gating: the before_email_sent handler at send time, hits_may_be_recorded at event time."""

from __future__ import annotations

from typing import Any

from consent.gate import before_email_sent, hits_may_be_recorded, install
from consent.service import record_consent
from plugin.hooks import OutgoingEmail, registry
from tests.consent.factories import unique_address
from tests.sending.helpers import mail_from, parse, parts, send


def _outgoing(*recipients: str, per_recipient: bool = False, track: bool = True) -> OutgoingEmail:
    return OutgoingEmail(
        sender_id=1,
        recipients=list(recipients),
        per_recipient=per_recipient,
        track_opens=track,
        track_links=track,
    )


async def test_install_registers_once(server: str) -> None:
    install()
    install()
    assert registry.get_hooks("before_email_sent").count(before_email_sent) == 1


async def test_opt_in_needs_a_grant_opt_out_a_refusal(server: str, settings: Any) -> None:
    eu, uk, ch, com = (unique_address(d) for d in ("firma.de", "shop.co.uk", "bank.ch", "x.com"))
    email = _outgoing(eu, uk, ch, com)
    await before_email_sent(email, settings)
    assert set(email.untracked) == {eu, uk}
    assert "EU, from the address's domain" in email.untracked[eu]
    assert "requires prior consent (opt-in) and none is recorded" in email.untracked[uk]

    await record_consent(eu, "GRANTED", "web form", None, settings)
    await record_consent(ch, "DENIED", "phone", None, settings)
    await record_consent(com, "WITHDRAWN", "phone", None, settings)
    email = _outgoing(eu, uk, ch, com)
    await before_email_sent(email, settings)
    assert set(email.untracked) == {uk, ch, com}
    assert email.untracked[ch] == "the recipient's consent to tracking is DENIED"
    assert email.untracked[com] == "the recipient's consent to tracking is WITHDRAWN"


async def test_host_country_and_company_country_reach_the_gate(server: str, settings: Any) -> None:
    import dataclasses

    swiss_contact, unknown = unique_address("firma.de"), unique_address("example.com")
    with registry.registered(
        "resolve_recipient_country", lambda e: "CH" if e == swiss_contact else None
    ):
        email = _outgoing(swiss_contact, unknown)
        await before_email_sent(email, dataclasses.replace(settings, company_country="IT"))
    assert set(email.untracked) == {unknown}
    assert "jurisdiction is unknown" in email.untracked[unknown]


async def test_an_untracked_message_is_left_alone(server: str, settings: Any) -> None:
    email = _outgoing(unique_address("firma.de"), track=False)
    await before_email_sent(email, settings)
    assert email.untracked == {}


async def test_withdrawal_reaches_back(server: str, settings: Any) -> None:
    anna, ben = unique_address("firma.de"), unique_address("bank.ch")
    assert await hits_may_be_recorded([anna, ben], settings)
    await record_consent(anna, "GRANTED", "web form", None, settings)
    assert await hits_may_be_recorded([anna.upper()], settings)
    # Ben refuses: his own copies and every shared message he was on stop recording.
    await record_consent(ben, "DENIED", "phone", None, settings)
    assert await hits_may_be_recorded([anna], settings)
    assert not await hits_may_be_recorded([ben], settings)
    assert not await hits_may_be_recorded([anna, ben], settings)
    await record_consent(anna, "WITHDRAWN", "phone", None, settings)
    assert not await hits_may_be_recorded([anna], settings)
    # A new grant lifts the refusal.
    await record_consent(anna, "GRANTED", "web form", None, settings)
    assert await hits_may_be_recorded([anna], settings)
    assert await hits_may_be_recorded([], settings)


SEND_HTML = '<html><body><p>Offer: <a href="https://example.org/offer">see</a></p></body></html>'


async def test_shared_message_is_tracked_only_if_everyone_may_be(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    granted, unasked = unique_address("firma.de"), unique_address("firma.fr")
    await record_consent(granted, "GRANTED", "web form", None, settings)
    payload = await send(
        gql, user, to=[granted], cc=[unasked], html=SEND_HTML, trackOpens=True, trackLinks=True
    )
    assert payload["errors"] == []
    tracking = payload["tracking"]
    assert (tracking["opens"], tracking["links"]) == (False, False)
    assert any(unasked in r and "opt-in" in r for r in tracking["reasons"])
    (envelope,) = await mail_from(smtp_server, user.email)
    text, html = parts(parse(envelope))
    # Untracked: no pixel, no tracked link, no consent link: nothing on the tracking domain.
    assert settings.public_url not in html and settings.public_url not in text


async def test_per_recipient_copies_are_decided_alone(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    granted, unasked, swiss = (unique_address(d) for d in ("firma.de", "firma.fr", "bank.ch"))
    await record_consent(granted, "GRANTED", "web form", None, settings)
    payload = await send(
        gql,
        user,
        to=[granted, unasked, swiss],
        html=SEND_HTML,
        trackOpens=True,
        trackLinks=True,
        trackPerRecipient=True,
    )
    assert payload["errors"] == []
    assert payload["tracking"]["opens"] is True
    reasons = payload["tracking"]["reasons"]
    assert len(reasons) == 1 and unasked in reasons[0]
    envelopes = await mail_from(smtp_server, user.email, count=3)
    bodies = {e.rcpt_tos[0]: parts(parse(e)) for e in envelopes}
    for address in (granted, swiss):  # tracked, and under opt-in / opt-out: a Stop tracking link
        text, html = bodies[address]
        # Not rewritten through the tracker: the href is the consent page itself.
        assert "Stop tracking</a>" in html and f'href="{settings.public_url}/consent/' in html
        assert f"Stop tracking: {settings.public_url}/consent/" in text
    text, html = bodies[unasked]
    assert settings.public_url not in html and settings.public_url not in text
