"""sendEmail end to end: GraphQL in, a real SMTP server (aiosmtpd) out, through the worker."""

from __future__ import annotations

import re
from typing import Any

from plugin.hooks import registry
from plugin.preferences.service import PreferenceChanges, get_preferences, update_preferences
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.tracking.edge.signer import urls_for
from plugin.tracking.edge.tokens import ClickToken, OpenToken
from tests.sending.helpers import email_status, mail_from, parse, parts, send

HTML = """<!DOCTYPE html>
<html><head><title>News</title></head>
<body>
<p>Hello <a href="https://shop.example.com/a?x=1&amp;y=2">our shop</a></p>
<p><a href="https://bücher.example/straße?q=é">IDN</a>
<a href="mailto:jane@example.com">mail</a> <a href="tel:+4912345">call</a>
<a href="#top">top</a> <a href="https://keep.example.com/" data-mb-no-track>keep</a>
<a href="https://news.example.com/unsubscribe?u=1">Unsubscribe</a></p>
<p>Again <a href='https://shop.example.com/a?x=1&amp;y=2'>same shop</a></p>
</body></html>
"""
HREF = re.compile(r"""<a\s[^>]*?href=(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)


def hrefs(html: str) -> list[str]:
    return [m.group(2).replace("&amp;", "&") for m in HREF.finditer(html)]


async def test_tracked_mail_arrives_with_pixel_and_tracked_links(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user(name="Jane Dö")
    payload = await send(gql, user, to=["to@example.com"], cc=["cc@foo.example"],
                         bcc=["hidden@foo.test"], subject="Grüße, news", html=HTML,
                         trackOpens=True, trackLinks=True)
    assert payload["errors"] == []
    assert payload["tracking"] == {"opens": True, "links": True, "reasons": []}
    email_id = payload["email"]["id"]
    (envelope,) = await mail_from(smtp_server, user.email)
    assert sorted(envelope.rcpt_tos) == ["cc@foo.example", "hidden@foo.test", "to@example.com"]
    message = parse(envelope)
    assert message["From"].addresses[0].display_name == "Jane Dö"
    assert message["From"].addresses[0].addr_spec == user.email
    assert str(message["To"]) == "to@example.com" and str(message["Cc"]) == "cc@foo.example"
    assert message["Subject"] == "Grüße, news"
    assert message["Bcc"] is None and b"hidden@" not in envelope.content
    assert message["Date"] is not None
    assert re.fullmatch(r"<[0-9a-f]{32}@127\.0\.0\.1>", message["Message-ID"])
    assert all(len(line) <= 78 for line in envelope.content.split(b"\r\n"))
    text, html = parts(message)

    urls = urls_for(settings)
    # One pixel, at the end of the body.
    pixels = re.findall(r'<img src="([^"]+)"', html)
    assert len(pixels) == 1 and isinstance(urls.parse(pixels[0]), OpenToken)
    assert html.index(pixels[0]) < html.rindex("</body>")
    links = hrefs(html)
    tracked = [urls.parse(h) for h in links if h.startswith(settings.public_url)]
    assert all(isinstance(t, ClickToken) for t in tracked)
    destinations = [t.destination for t in tracked if isinstance(t, ClickToken) and not t.honeypot]
    assert destinations == [
        "https://shop.example.com/a?x=1&y=2", "https://bücher.example/straße?q=é",
        "https://shop.example.com/a?x=1&y=2",
    ]
    assert sum(1 for t in tracked if isinstance(t, ClickToken) and t.honeypot) == 1
    for untouched in ("mailto:jane@example.com", "tel:+4912345", "#top", "https://keep.example.com/",
                      "https://news.example.com/unsubscribe?u=1"):
        assert untouched in links
    assert "data-mb-no-track" not in html
    # The derived text part keeps links as URLs, tracked the same way.
    text_urls = re.findall(r"https?://\S+?(?=[)\s])", text)
    assert any(u.startswith(settings.public_url + "/t/c/") for u in text_urls)
    assert "shop.example.com" not in text

    email = await email_status(email_id, EmailStatus.SENT)
    assert email.sent_at is not None and email.message_id == message["Message-ID"]
    (copy,) = await EmailCopy.filter(email_id=email.id)
    assert copy.status == EmailStatus.SENT and copy.accepted_at is not None and copy.attempts == 1
    stored = await TrackedLink.filter(email_id=email.id).order_by("position").values_list(
        "position", "url")
    assert stored == [(1, "https://shop.example.com/a?x=1&y=2"),
                      (2, "https://bücher.example/straße?q=é")]


async def test_untracked_mail_carries_no_tracking_and_choices_become_defaults(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["a@example.com"], html=HTML,
                         trackOpens=False, trackLinks=False)
    assert payload["tracking"] == {"opens": False, "links": False, "reasons": []}
    assert payload["email"]["tracked"] is False
    (envelope,) = await mail_from(smtp_server, user.email)
    assert settings.public_url.encode() not in envelope.content
    preference = await get_preferences(user.id)
    assert (preference.default_track_opens, preference.default_track_links) == (False, False)
    # Absent toggles now take the remembered defaults.
    again = await send(gql, user, to=["a@example.com"], html="<p>hi</p>")
    assert again["tracking"]["opens"] is False and again["tracking"]["links"] is False


async def test_preference_switched_off_wins_and_says_so(gql: Any, make_user: Any) -> None:
    user = await make_user()
    await update_preferences(await _user(user), PreferenceChanges(open_tracking_enabled=False))
    payload = await send(gql, user, to=["a@example.com"], html="<p>hi</p>")
    assert payload["tracking"]["opens"] is False and payload["tracking"]["links"] is True
    assert payload["tracking"]["reasons"] == ["Open tracking is switched off in your preferences."]
    # What the user chose (the default, on) stays the default; the preference did the rest.
    assert (await get_preferences(user.id)).default_track_opens is True


async def test_per_recipient_copies(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["a@example.com", "b@example.com"], cc=["c@example.com"],
                         bcc=["d@example.com"], html=HTML, trackPerRecipient=True)
    envelopes = await mail_from(smtp_server, user.email, 4)
    assert sorted(tuple(e.rcpt_tos) for e in envelopes) == [
        ("a@example.com",), ("b@example.com",), ("c@example.com",), ("d@example.com",)]
    pixels = set()
    for envelope in envelopes:
        message = parse(envelope)
        assert str(message["To"]) == "a@example.com, b@example.com"
        assert str(message["Cc"]) == "c@example.com" and message["Bcc"] is None
        # The whole address: the sender's random one may end in "...d@example.com".
        assert not re.search(rb"(?<![\w.+-])d@example\.com", envelope.content)
        _, html = parts(message)
        pixels.add(re.findall(r'<img src="([^"]+)"', html)[0])
    assert len(pixels) == 4  # each copy its own tokens
    email = await email_status(payload["email"]["id"], EmailStatus.SENT)
    copies = await EmailCopy.filter(email_id=email.id).order_by("id")
    assert [c.recipient for c in copies] == [
        "a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert len({c.message_id for c in copies}) == 4


async def test_hook_switches_tracking_off_per_recipient(
    gql: Any, make_user: Any, smtp_server: Any, settings: Any
) -> None:
    user = await make_user()

    def no_consent(email: Any) -> None:
        email.switch_off_tracking("b@example.com", "no consent recorded")

    with registry.registered("before_email_sent", no_consent):
        shared = await send(gql, user, to=["a@example.com", "b@example.com"], html=HTML)
        split = await send(gql, user, to=["a@example.com", "b@example.com"], html=HTML,
                           trackPerRecipient=True)
    assert shared["tracking"]["opens"] is False and shared["tracking"]["links"] is False
    assert "Tracking is switched off for b@example.com: no consent recorded" in (
        shared["tracking"]["reasons"])
    assert split["tracking"] == {
        "opens": True, "links": True,
        "reasons": ["Tracking is switched off for b@example.com: no consent recorded"]}
    envelopes = await mail_from(smtp_server, user.email, 3)
    by_rcpt = {tuple(e.rcpt_tos): e for e in envelopes}
    tracking_prefix = settings.public_url.encode() + b"/t/"
    assert tracking_prefix not in by_rcpt[("a@example.com", "b@example.com")].content
    assert tracking_prefix not in by_rcpt[("b@example.com",)].content
    assert tracking_prefix in by_rcpt[("a@example.com",)].content
    # The user's choice (on, the default) is remembered, not what the hook switched off.
    assert (await get_preferences(user.id)).default_track_opens is True


async def test_idempotency_key_returns_the_first_result(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user, other = await make_user(), await make_user()
    first = await send(gql, user, to=["a@example.com"], html="<p>1</p>", idempotencyKey="k-1")
    again = await send(gql, user, to=["b@example.com"], html="<p>2</p>", idempotencyKey="k-1")
    theirs = await send(gql, other, to=["a@example.com"], html="<p>1</p>", idempotencyKey="k-1")
    assert again["email"]["id"] == first["email"]["id"]
    assert again["tracking"] == first["tracking"]
    assert theirs["email"]["id"] != first["email"]["id"]
    await email_status(first["email"]["id"], EmailStatus.SENT)
    await mail_from(smtp_server, other.email)
    assert len([e for e in smtp_server.envelopes if e.mail_from == user.email]) == 1
    assert await SentEmail.filter(user_id=user.id).count() == 1


async def test_temporary_failure_is_retried(gql: Any, make_user: Any, smtp_server: Any) -> None:
    user = await make_user()
    smtp_server.replies.append("451 4.3.0 try again later")
    payload = await send(gql, user, to=["a@example.com"], html="<p>retry</p>")
    email = await email_status(payload["email"]["id"], EmailStatus.SENT, timeout=30)
    (copy,) = await EmailCopy.filter(email_id=email.id)
    assert copy.attempts == 2 and copy.error is None
    assert len(await mail_from(smtp_server, user.email)) == 1


async def test_permanent_failure_ends_failed_with_the_reason(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    smtp_server.replies.append("550 5.7.1 message rejected as spam")
    payload = await send(gql, user, to=["a@example.com"], html="<p>no</p>")
    email = await email_status(payload["email"]["id"], EmailStatus.FAILED)
    assert "550" in (email.error or "") and "rejected as spam" in (email.error or "")
    (copy,) = await EmailCopy.filter(email_id=email.id)
    assert copy.attempts == 1
    answer = await gql("query($id: ID!) { sentEmail(id: $id) { status error } }",
                       {"id": payload["email"]["id"]}, user=user)
    assert answer["data"]["sentEmail"]["status"] == "FAILED"


async def test_refused_recipient_per_copy_fails_the_email(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 no such user"
    try:
        payload = await send(gql, user, to=["a@example.com", "gone@example.com"], html="<p>x</p>",
                             trackPerRecipient=True)
        email = await email_status(payload["email"]["id"], EmailStatus.FAILED)
    finally:
        smtp_server.refuse.clear()
    assert email.error is not None and "gone@example.com" in email.error
    assert len(await mail_from(smtp_server, user.email)) == 1


async def test_template_renders_with_context(gql: Any, make_user: Any, smtp_server: Any) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["a@example.com"], subject="Hi {{ name }}",
                         html="<p>Dear {{ name }}</p>", context={"name": "<b>Bob</b>"},
                         trackOpens=False, trackLinks=False)
    assert payload["errors"] == [] and payload["email"]["subject"] == "Hi <b>Bob</b>"
    message = parse((await mail_from(smtp_server, user.email))[0])
    text, html = parts(message)
    assert "<p>Dear &lt;b&gt;Bob&lt;/b&gt;</p>" in html
    assert "Dear <b>Bob</b>" in text


async def _user(api_user: Any) -> Any:
    from plugin.accounts.models import User

    return await User.get(id=api_user.id)
