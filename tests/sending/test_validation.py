"""Draft validation, without the server."""

from __future__ import annotations

from typing import Any

from plugin.sending.validation import Draft, check_address, has_header_breaks, validate_draft


def test_addresses_are_normalized_for_headers_and_envelope() -> None:
    address = check_address("  Jane@Bücher.EXAMPLE ", field="to")
    assert address.display == "Jane@bücher.example"
    assert address.envelope == "Jane@xn--bcher-kva.example"


def test_header_breaks() -> None:
    assert has_header_breaks("a\rb") and has_header_breaks("a\nb") and has_header_breaks("a\x00")
    # Every control character is refused, tab included (a subject has no use for one).
    assert has_header_breaks("a\tb") and not has_header_breaks("a b ü")


def test_body_size_is_bounded(settings: Any) -> None:
    big = "é" * (settings.max_body_bytes // 2 + 1)  # two bytes each in UTF-8
    _, problems = validate_draft(Draft(to=["a@example.com"], subject="s", html=big), settings)
    assert [(p.code, p.field) for p in problems] == [("TOO_LARGE", "html")]


def test_text_only_is_enough(settings: Any) -> None:
    valid, problems = validate_draft(
        Draft(to=["a@example.com"], cc=["b@example.com"], bcc=["c@example.com"], subject="s",
              text="hi"), settings)
    assert problems == [] and valid is not None
    assert [a.display for a in valid.recipients] == ["a@example.com", "b@example.com",
                                                     "c@example.com"]
