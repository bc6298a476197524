"""A group of copies built in one CPU-pool trip: each copy's own tokens and footer, its
bytes for its envelope, and the email's template kept only briefly."""

from __future__ import annotations

import secrets
from email import message_from_bytes, policy
from typing import Any

import pytest

from plugin.sending import copies as module
from plugin.sending.copies import CopyToBuild, EmailToBuild, build_copies
from plugin.sending.wire import Flat

EMAIL = EmailToBuild(
    html='<p>Hi <a href="https://shop.example/x">x</a></p>', text=None, sender_name="Zoë",
    from_address="zoe@example.com", to=["a@example.com", "b@example.com"], cc=[],
    subject="Hello",
)


def _copy(recipient: str, footer: tuple[str, str] | None = None) -> CopyToBuild:
    return CopyToBuild(public_id=secrets.token_bytes(12), track_opens=True, track_links=True,
                       message_id=f"<{secrets.token_hex(16)}@t.example>",
                       recipients=[recipient], footer=footer)


def _parsed(flat: Any) -> Any:
    assert isinstance(flat, Flat)
    return message_from_bytes(flat.data, policy=policy.default)


def test_each_copy_its_own_tokens_footer_and_envelope(settings: Any) -> None:
    group = [_copy("a@example.com", ("<p>STOP-A</p>", "STOP-A")), _copy("jörg@bücher.example")]
    first, second = build_copies(email=EMAIL, copies=group, indexes={}, settings=settings,
                                 envelope_sender="zoe@example.com")
    assert isinstance(first, Flat) and isinstance(second, Flat)
    assert not first.smtputf8 and second.smtputf8
    one, two = _parsed(first), _parsed(second)
    assert one["Message-ID"] == group[0].message_id and one["To"] == two["To"]
    html_one = one.get_body(("html",)).get_content()
    html_two = two.get_body(("html",)).get_content()
    assert "STOP-A" in html_one and "STOP-A" in one.get_body(("plain",)).get_content()
    assert "STOP-A" not in html_two and html_one != html_two  # own pixel and links
    # For a host CRM's hook: the messages themselves.
    (whole,) = build_copies(email=EMAIL, copies=group[:1], indexes={}, settings=settings,
                            envelope_sender=None)
    assert not isinstance(whole, Flat) and whole["Message-ID"] == group[0].message_id


def test_the_template_and_its_date_are_kept_briefly(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(module, "_templates", {})

    def date() -> str:
        (flat,) = build_copies(email=EMAIL, copies=[_copy("a@example.com")], indexes={},
                               settings=settings, envelope_sender="zoe@example.com")
        return str(_parsed(flat)["Date"])

    first = date()
    template = module._templates[next(iter(module._templates))][1]
    now[0] += module.TEMPLATE_SECONDS / 2
    assert date() == first and module._templates[next(iter(module._templates))][1] is template
    now[0] += module.TEMPLATE_SECONDS
    date()
    assert module._templates[next(iter(module._templates))][1] is not template
    assert len(module._templates) == 1
