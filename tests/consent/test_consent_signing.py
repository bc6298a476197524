"""Consent keys: link tokens, form tokens, keyed address hashes; rotation; language choice."""

from __future__ import annotations

import base64
import time

import pytest

from consent.signing import ConsentKeys, LinkKind
from consent.templating import pick_language

OLD, NEW = "old-secret-" + "o" * 40, "new-secret-" + "n" * 40


LATER = time.time() + 3600


def test_links_round_trip_and_survive_rotation() -> None:
    old = ConsentKeys([OLD])
    token = old.sign_personal_link("Anna@Müller.DE", expires_at=LATER)
    for keys in (old, ConsentKeys([NEW, OLD])):
        claim = keys.verify_link(token)
        assert claim is not None
        assert (claim.kind, claim.subject, claim.expired) == (
            LinkKind.PERSONAL, "anna@xn--mller-kva.de", False
        )
        assert claim.expires_at == int(LATER)
    assert ConsentKeys([NEW]).verify_link(token) is None
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token


def test_message_links_name_a_copy_not_a_recipient() -> None:
    keys = ConsentKeys([NEW])
    claim = keys.verify_link(keys.sign_message_link("00ff" * 6, expires_at=LATER))
    assert claim is not None and (claim.kind, claim.subject) == (LinkKind.MESSAGE, "00ff" * 6)


def test_links_expire() -> None:
    keys = ConsentKeys([NEW])
    token = keys.sign_personal_link("anna@firma.de", expires_at=LATER)
    assert keys.verify_link(token, now=LATER - 1).expired is False  # type: ignore[union-attr]
    assert keys.verify_link(token, now=LATER).expired is True  # type: ignore[union-attr]


def test_a_link_cannot_change_its_kind_or_expiry() -> None:
    keys = ConsentKeys([NEW])
    raw = base64.urlsafe_b64decode(
        (token := keys.sign_message_link("ab" * 12, expires_at=LATER)) + "=" * (-len(token) % 4)
    )
    for forged in (raw[:1] + b"\x01" + raw[2:], raw[:2] + b"\xff\xff\xff\xff" + raw[6:]):
        assert keys.verify_link(base64.urlsafe_b64encode(forged).rstrip(b"=").decode()) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:5],
        lambda t: t + "A",
        lambda t: t + "==",
        lambda t: "x" * 5000,
        lambda t: "",
        lambda t: t.replace(t[3], "!"),
    ],
)
def test_tampered_links_are_refused(mutate: object) -> None:
    keys = ConsentKeys([NEW])
    token = keys.sign_personal_link("anna@firma.de", expires_at=LATER)
    assert keys.verify_link(mutate(token)) is None  # type: ignore[operator]


def test_form_tokens_bind_recipient_action_and_time() -> None:
    keys = ConsentKeys([NEW, OLD])
    now = time.time()
    token = keys.sign_form("anna@firma.de", "choice", now=now)
    verified = keys.verify_form(token, "ANNA@firma.de", "choice", now=now + 10)
    assert verified is not None and verified.recipient == "anna@firma.de"
    assert abs(verified.issued_at.timestamp() - now) < 1e-3
    assert keys.verify_form(token, "ben@firma.de", "choice", now=now) is None
    assert keys.verify_form(token, "anna@firma.de", "other", now=now) is None
    assert keys.verify_form(token, "anna@firma.de", "choice", now=now + 3601) is None
    rotated = ConsentKeys([OLD]).sign_form("anna@firma.de", "choice", now=now)
    assert keys.verify_form(rotated, "anna@firma.de", "choice", now=now) is not None


def test_address_hashes_are_keyed_normalized_and_rotate() -> None:
    new, both = ConsentKeys([NEW]), ConsentKeys([NEW, OLD])
    assert new.address_hash("Anna@Firma.de ") == new.address_hash("anna@firma.de")
    assert both.address_hashes("anna@firma.de")[0] == new.address_hash("anna@firma.de")
    assert both.address_hashes("anna@firma.de")[1] == ConsentKeys([OLD]).address_hash(
        "anna@firma.de"
    )
    assert len(new.address_hash("anna@firma.de")) == 64


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("it", "it"),
        ("it-CH", "it"),
        ("IT-it,en;q=0.5", "it"),
        ("de, fr", "en"),
        ("en;q=0.9, it;q=0.95", "it"),
        ("it;q=0, en", "en"),
        ("it;q=abc", "en"),
        ("*", "en"),
    ],
)
def test_language_by_accept_language(header: str | None, language: str) -> None:
    assert pick_language(header) == language
