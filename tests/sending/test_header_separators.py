"""Every control character and Unicode line/paragraph separator is refused in headers.

Finding 4 of issue 11: ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and
U+2029 in a subject were accepted (QUEUED) and the send failed later with an internal
error. Now each is HEADER_INJECTION before anything is stored or queued.
"""

from __future__ import annotations

from typing import Any

import pytest

from plugin.accounts.service import create_user
from plugin.errors import ValidationError
from plugin.sending.models import SentEmail
from plugin.sending.validation import has_header_breaks
from tests.sending.helpers import send

# The ones the finding names, the rest of C0 and C1, DEL, and the Unicode separators.
SEPARATORS = [
    "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
    "\x00", "\x01", "\x08", "\t", "\x1b", "\x1f", "\x7f", "\x80", "\x9f",
]


def test_every_control_character_and_separator_is_a_header_break() -> None:
    controls = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + ["\u2028", "\u2029"]
    assert all(has_header_breaks(f"a{c}b") for c in controls)
    # Ordinary text, accents, emoji (with a zero-width joiner) and RTL text pass.
    for fine in ["Offerta n° 5, già", "Grüße 👩‍💻", "שלום", "a\u00a0b"]:
        assert not has_header_breaks(fine)


@pytest.mark.parametrize("separator", SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
async def test_a_separator_in_the_subject_is_refused_and_nothing_is_queued(
    gql: Any, make_user: Any, separator: str
) -> None:
    user = await make_user()
    payload = await send(
        gql, user, to=["a@example.com"], subject=f"Hi{separator}Bcc: victim@example.com",
        html="<p>x</p>",
    )
    assert payload["email"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("HEADER_INJECTION", "subject")
    ]
    assert await SentEmail.filter(user_id=user.id).count() == 0


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
@pytest.mark.parametrize("separator", ["\x0b", "\x85", "\u2028", "\x1e"], ids=repr)
async def test_a_separator_in_an_address_is_refused(
    gql: Any, make_user: Any, field: str, separator: str
) -> None:
    user = await make_user()
    fields: dict[str, Any] = {"to": ["a@example.com"], "html": "<p>x</p>"}
    fields[field] = [f"b@example.com{separator}X: y"]
    payload = await send(gql, user, **fields)
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("HEADER_INJECTION", field)]
    assert await SentEmail.filter(user_id=user.id).count() == 0


async def test_a_separator_rendered_into_the_subject_is_refused(
    gql: Any, make_user: Any
) -> None:
    user = await make_user()
    payload = await send(
        gql, user, to=["a@example.com"], subject="Hi {{ n }}", html="<p>x</p>",
        context={"n": "x\u2028Bcc: v@example.com"},
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("HEADER_INJECTION", "subject")
    ]
    assert await SentEmail.filter(user_id=user.id).count() == 0


@pytest.mark.parametrize("name", ["Ann\x0bBcc: x@evil.example", "Ann\u2029", "Ann\r\nX: 1"])
async def test_a_user_name_with_a_separator_is_refused(server: str, name: str) -> None:
    # The name becomes the From header's display name of every mail the user sends.
    with pytest.raises(ValidationError) as refused:
        await create_user("named-user@example.com", name=name)
    assert (refused.value.code, refused.value.field) == ("HEADER_INJECTION", "name")
