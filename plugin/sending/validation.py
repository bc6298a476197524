"""Validation of a draft before anything is stored or sent.

Every problem is collected (not just the first) so the compose form can show
them all at once; each carries a stable code:

- ``INVALID_ADDRESS``: not an address (syntax only, via email-validator; no DNS
  look-ups; reserved test names such as ``example.com``, ``.example`` and
  ``.test`` are valid).
- ``HEADER_INJECTION``: any control character (C0, DEL, C1: CR, LF, NUL, vertical
  tab, form feed, the file/group/record separators, NEL...) or a Unicode line or
  paragraph separator (U+2028, U+2029) in the subject or an address: mail libraries
  treat several of them as line ends, so each could end a header and start another.
- ``INVALID_TEXT``: a lone surrogate (not a character: it cannot be encoded) in
  the subject, an address or a body.
- ``DUPLICATE_RECIPIENT``: one address listed twice across to/cc/bcc.
- ``NO_RECIPIENT``, ``TOO_MANY_RECIPIENTS``, ``EMPTY_BODY``, ``TOO_LARGE``,
  ``INVALID_INPUT`` (context not an object, idempotency key too long).

Addresses are plain ``local@domain`` strings; display names are not accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from plugin.errors import ErrorCode, ValidationError
from plugin.settings import Settings

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "MAX_SUBJECT_CHARS",
    "Address",
    "Draft",
    "InvalidDraft",
    "ValidDraft",
    "check_address",
    "check_header_value",
    "check_subject",
    "check_text",
    "has_header_breaks",
    "has_surrogates",
    "validate_draft",
]

MAX_SUBJECT_CHARS = 998  # RFC 5322's line limit: a subject never needs more
MAX_IDEMPOTENCY_KEY = 200  # the column's size
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


@dataclass(frozen=True)
class Draft:
    """What the caller asked to send, as given (the mutation's input)."""

    to: Sequence[str]
    subject: str
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    html: str | None = None
    text: str | None = None
    context: dict[str, Any] | None = None
    track_opens: bool | None = None
    track_links: bool | None = None
    track_per_recipient: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ValidDraft:
    """A draft whose addresses are normalized and whose sizes are within bounds."""

    draft: Draft
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]

    @property
    def recipients(self) -> list[Address]:
        """Every recipient once: to, then cc, then bcc."""
        return [*self.to, *self.cc, *self.bcc]


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


def _utf8_len(value: str | None) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if value else 0


def validate_draft(
    draft: Draft, settings: Settings
) -> tuple[ValidDraft | None, list[ValidationError]]:
    """Return the validated draft, or None and every problem found."""
    problems: list[ValidationError] = []
    lists: dict[str, list[Address]] = {"to": [], "cc": [], "bcc": []}
    seen: set[str] = set()
    for field in ("to", "cc", "bcc"):
        for raw in getattr(draft, field) or ():
            try:
                address = check_address(raw, field=field)
            except ValidationError as error:
                problems.append(error)
                continue
            key = address.envelope.casefold()
            if key in seen:
                problems.append(ValidationError(
                    f"{address.display} is listed more than once", field=field,
                    code=ErrorCode.DUPLICATE_RECIPIENT,
                ))
                continue
            seen.add(key)
            lists[field].append(address)
    count = sum(len(getattr(draft, field) or ()) for field in ("to", "cc", "bcc"))
    if not draft.to:
        problems.append(ValidationError("at least one recipient is required", field="to",
                                        code=ErrorCode.NO_RECIPIENT))
    if count > settings.max_recipients:
        problems.append(ValidationError(
            f"{count} recipients exceed the limit of {settings.max_recipients}", field="to",
            code=ErrorCode.TOO_MANY_RECIPIENTS,
        ))
    problems.extend(_check_subject(draft.subject))
    problems.extend(_check_body(draft, settings))
    problems.extend(_check_encodable(draft))
    if draft.context is not None and not isinstance(draft.context, dict):
        problems.append(ValidationError("context must be a JSON object", field="context"))
    idem = draft.idempotency_key
    if idem is not None and not 0 < len(idem) <= MAX_IDEMPOTENCY_KEY:
        problems.append(ValidationError(
            f"idempotencyKey must have 1 to {MAX_IDEMPOTENCY_KEY} characters",
            field="idempotencyKey",
        ))
    if problems:
        return None, problems
    return ValidDraft(draft=draft, to=lists["to"], cc=lists["cc"], bcc=lists["bcc"]), []


def check_subject(subject: str) -> None:
    """Raise the first problem of a subject (also used on a rendered subject)."""
    for problem in _check_subject(subject):
        raise problem


def _check_subject(subject: str) -> list[ValidationError]:
    try:
        check_header_value(subject, field="subject")
    except ValidationError as problem:
        return [problem]
    if len(subject) > MAX_SUBJECT_CHARS:
        return [ValidationError(f"the subject exceeds {MAX_SUBJECT_CHARS} characters",
                                field="subject", code=ErrorCode.TOO_LARGE)]
    return []


def _check_encodable(draft: Draft) -> list[ValidationError]:
    problems = []
    for field, value in (("html", draft.html), ("text", draft.text),
                         ("idempotencyKey", draft.idempotency_key)):
        if isinstance(value, str) and has_surrogates(value):
            problems.append(ValidationError(
                f"{field} contains an invalid character (a lone UTF-16 surrogate)",
                field=field, code=ErrorCode.INVALID_TEXT,
            ))
    return problems


def _check_body(draft: Draft, settings: Settings) -> list[ValidationError]:
    if not (draft.html and draft.html.strip()) and not (draft.text and draft.text.strip()):
        return [ValidationError("an html or a text body is required", field="html",
                                code=ErrorCode.EMPTY_BODY)]
    size = _utf8_len(draft.html) + _utf8_len(draft.text)
    if size > settings.max_body_bytes:
        return [ValidationError(
            f"the body is {size} bytes, more than the limit of {settings.max_body_bytes}",
            field="html", code=ErrorCode.TOO_LARGE,
        )]
    return []


class InvalidDraft(ValidationError):
    """Every problem of a rejected draft (``problems``); nothing was stored or sent."""

    def __init__(self, problems: Sequence[ValidationError]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        super().__init__(
            first.message if first else "invalid draft",
            field=first.field if first else None,
            code=first.code if first else None,
        )

    def client_errors(self) -> list[ValidationError]:
        return self.problems
