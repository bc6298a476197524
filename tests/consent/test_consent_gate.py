"""Gating: the before_email_sent handler at send time, hits_may_be_recorded at event time,
both reached by the domains only through the hooks that consent.gate.install registers."""

from __future__ import annotations

import time
from typing import Any

from consent.gate import ConsentGates, before_email_sent, hits_may_be_recorded, install, installed
from consent.service import record_consent
from plugin.hooks import OutgoingEmail, registry
from plugin.runtime import current_runtime
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.ingest import ingest_hits
from tests.consent.factories import unique_address
from tests.sending.helpers import mail_from, parse, parts, send
from tests.tracking.tracked_mail import make_tracked_mail, wire_hit

_GATE_HOOKS = ("before_email_sent", "before_hits_recorded", "resolve_stop_tracking_footer")


def _consent_handlers(name: str) -> list[Any]:
    return [h for h in registry.get_hooks(name) if isinstance(getattr(h, "__self__", None),
                                                              ConsentGates)]


def _outgoing(*recipients: str, per_recipient: bool = False, track: bool = True) -> OutgoingEmail:
    return OutgoingEmail(
        sender_id=1,
        recipients=list(recipients),
        per_recipient=per_recipient,
        track_opens=track,
        track_links=track,
    )


async def test_install_registers_once(server: str, settings: Any) -> None:
    # The server's start installed the gates with its settings; installing again keeps one.
    started = installed()
    assert started is not None
    try:
        install(settings)
        install(settings)
        for name in _GATE_HOOKS:
            assert len(_consent_handlers(name)) == 1
    finally:
        install(started.settings)
    assert installed() is not None and installed().settings is started.settings  # type: ignore[union-attr]


async def test_a_refused_recipient_s_hits_are_not_recorded(
    server: str, make_user: Any, settings: Any
) -> None:
    """The pipeline asks the before_hits_recorded hook; consent's handler vetoes."""
    user = await make_user()
    ben, cleo = unique_address("bank.ch"), unique_address("bank.ch")
    refused = await make_tracked_mail(settings, user.id, recipients=(ben,))
    allowed = await make_tracked_mail(settings, user.id, recipients=(cleo,))
    await record_consent(ben, "DENIED", "phone", None, settings)
    hits = [wire_hit(refused, at=time.time()), wire_hit(allowed, at=time.time())]
    await ingest_hits(hits, current_runtime())
    assert await TrackingEvent.filter(email_id=refused.email.id).count() == 0
    assert await TrackingEvent.filter(email_id=allowed.email.id).count() == 1


async def test_a_host_veto_on_hits_is_heard_too(server: str, make_user: Any, settings: Any) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id, recipients=(unique_address("x.com"),))
    with registry.registered("before_hits_recorded", lambda recipients: False):
        await ingest_hits([wire_hit(mail, at=time.time())], current_runtime())
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 0


async def test_the_footer_hook_answers_with_consent_s_footer(server: str) -> None:
    eu, com = unique_address("firma.de"), unique_address("x.com")
    footer = await registry.first_answer("resolve_stop_tracking_footer", [eu], None)
    assert footer is not None and "/consent/" in footer[1]
    assert await registry.first_answer("resolve_stop_tracking_footer", [com], None) is None


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
