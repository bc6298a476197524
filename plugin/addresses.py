"""An email address, and the text bound for a mail header: the checks every domain shares.

Sending validates its drafts with them (``plugin.sending.validation``), the accounts and
mailboxes their users' addresses and names, consent its recipients' addresses. They sit
below the domains (they import only the core) so that none of those has to import
another's validation. Codes: ``INVALID_ADDRESS`` (syntax only, via email-validator; no
DNS look-ups; reserved test names such as ``example.com``, ``.example`` and ``.test`` are
valid), ``HEADER_INJECTION`` (a control character or a Unicode line or paragraph
separator), ``INVALID_TEXT`` (a lone surrogate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from plugin.errors import ErrorCode, ValidationError

__all__ = [
    "Address",
    "check_address",
    "check_header_value",
    "check_text",
    "has_header_breaks",
    "has_surrogates",
]

# Every Unicode control character (Cc: C0, DEL, C1) and the line/paragraph separators:
# str.splitlines() and the email package split on several of them (\x0b, \x0c, \x1c-\x1e,
# \x85, \u2028, \u2029), so none may reach a header.
_HEADER_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Address:
    """A validated recipient: ``display`` for headers and lists, ``envelope`` for SMTP."""

    display: str  # normalized (domain lower-cased, Unicode kept)
    envelope: str  # ASCII (IDNA domain) when possible, else the SMTPUTF8 form


def has_header_breaks(value: str) -> bool:
    """True when ``value`` holds a control character or a Unicode line/paragraph separator
    (anything that could end a header line and start another one)."""
    return _HEADER_BREAKS.search(value) is not None


def has_surrogates(value: str) -> bool:
    """True when ``value`` holds a lone surrogate (it cannot be encoded as UTF-8)."""
    return _SURROGATES.search(value) is not None


def check_text(value: str, *, field: str) -> None:
    """Raise INVALID_TEXT when ``value`` is not encodable text (a lone surrogate)."""
    if has_surrogates(value):
        raise ValidationError(
            f"{field} contains an invalid character (a lone UTF-16 surrogate)",
            field=field, code=ErrorCode.INVALID_TEXT,
        )


def check_header_value(value: str, *, field: str, what: str | None = None) -> None:
    """Raise HEADER_INJECTION or INVALID_TEXT for a value bound for a mail header
    (subject, display name, address)."""
    if has_header_breaks(value):
        raise ValidationError(
            f"{what or 'the ' + field} must not contain control characters or line breaks",
            field=field, code=ErrorCode.HEADER_INJECTION,
        )
    check_text(value, field=field)


def check_address(raw: str, *, field: str) -> Address:
    """Return the validated address or raise ValidationError with a stable code.

    The one address validator of mailbeacon: sending, consent and erasure use it."""
    if not isinstance(raw, str):
        raise ValidationError(
            "an address must be a string", field=field, code=ErrorCode.INVALID_ADDRESS
        )
    check_header_value(raw, field=field, what="an address")
    value = raw.strip()
    try:
        result = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValidationError(
            f"{value[:254]!r} is not a valid email address: {error}", field=field,
            code=ErrorCode.INVALID_ADDRESS,
        ) from None
    return Address(display=result.normalized, envelope=result.ascii_email or result.normalized)
