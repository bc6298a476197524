"""The copies' MIME messages: a template's copies are the very bytes build_message makes,
and a copy flattened ahead of time is the very bytes aiosmtplib would send."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
import pytest
from aiosmtplib.email import flatten_message

from plugin.sending.mime import MessageTemplate, build_message, new_message_id
from plugin.sending.smtp_pipeline import prepare
from plugin.sending.wire import flatten_for

DATE = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
HTML = '<p>Hällo</p><p><a href="https://x.example/' + "p" * 200 + '">a link</a></p>\n' * 20
TEXT = "Hällo\n.a line starting with a dot\n" + "t" * 300 + "\n=3D not an escape\n"
FIELDS: dict[str, Any] = {
    "sender_name": 'Zoë "Q" Sender', "sender_address": "zoe@example.com",
    "to": [f"r{i}@example.com" for i in range(60)] + ["b@bücher.example"],
    "cc": ["c@example.org"], "subject": "Ünïcode " + "long " * 30, "date": DATE,
}


def _bytes(message: Any, seed: int) -> bytes:
    random.seed(seed)  # the generator's MIME boundary comes from random
    return flatten_message(message, utf8=False, cte_type="7bit")


@pytest.mark.parametrize(("text", "html"), [(TEXT, HTML), (None, HTML), (TEXT, None)],
                         ids=["both", "html", "text"])
def test_a_templates_copies_are_what_build_message_makes(text: Any, html: Any) -> None:
    template = MessageTemplate(**FIELDS)
    for n, message_id in enumerate([new_message_id("t.example.com"),
                                    f"<{'m' * 90}@a-long-domain.example>", "<x y@z>"]):
        body_html = html and html.replace("Hällo", f"Hällo {n}")
        built = template.build(text=text, html=body_html, message_id=message_id)
        expected = build_message(**FIELDS, text=text, html=body_html, message_id=message_id)
        assert _bytes(built, n) == _bytes(expected, n)
        assert built["Message-ID"] == expected["Message-ID"]


def test_a_copy_flattened_ahead_is_what_aiosmtplib_would_send() -> None:
    message = MessageTemplate(**FIELDS).build(text=TEXT, html=HTML, message_id="<m@x.test>")
    random.seed(1)
    flat = flatten_for(message, "zoe@example.com", ["r0@example.com"])
    # Quoted-printable copies are 7-bit: the same bytes whether or not the server offers
    # 8BITMIME.
    for cte_type in ("7bit", "8bit"):
        random.seed(1)
        assert flat.data == flatten_message(message, utf8=False, cte_type=cte_type)
    assert not flat.smtputf8 and flat.message_id == "<m@x.test>"
    random.seed(2)
    abroad = flatten_for(message, "zoe@example.com", ["jörg@bücher.example"])
    random.seed(2)
    assert abroad.smtputf8 and abroad.data == flatten_message(message, utf8=True)


class _Client:
    """What ``prepare`` asks of a connected client."""

    def __init__(self, *extensions: str) -> None:
        self.extensions = {e.lower() for e in extensions}

    def supports_extension(self, name: str) -> bool:
        return name.lower() in self.extensions


def test_prepare_sends_a_flat_copy_as_it_is_and_only_for_its_envelope() -> None:
    message = build_message(**FIELDS, text=TEXT, html=None, message_id="<m@x.test>")
    flat = flatten_for(message, "zoe@example.com", ["r0@example.com"])
    client: Any = _Client("size", "8bitmime", "smtputf8")
    envelope = prepare(client, flat, "zoe@example.com", ["r0@example.com"])
    assert envelope.commands.startswith(f"MAIL FROM:<zoe@example.com> SIZE={len(flat.data)} "
                                        "BODY=8BITMIME\r\n".encode())
    assert envelope.content.endswith(b"\r\n.\r\n") and b"\r\n..a line" in envelope.content
    with pytest.raises(ValueError, match="another envelope"):
        prepare(client, flat, "zoe@example.com", ["jörg@bücher.example"])
    with pytest.raises(aiosmtplib.SMTPNotSupported):
        prepare(_Client(), flatten_for(message, "zoe@example.com", ["jörg@bücher.example"]),  # type: ignore[arg-type]
                "zoe@example.com", ["jörg@bücher.example"])


@pytest.mark.parametrize(("text", "html"), [(TEXT, HTML), (None, HTML), (TEXT, None)],
                         ids=["both", "html", "text"])
@pytest.mark.parametrize("recipient", ["r0@example.com", "jörg@bücher.example"],
                         ids=["ascii", "smtputf8"])
def test_a_copy_cut_from_its_skeleton_is_the_generators_bytes(
    text: Any, html: Any, recipient: str
) -> None:
    template = MessageTemplate(**FIELDS)
    ids = [new_message_id("t.example.com"), new_message_id("t.example.com"),
           f"<{'m' * 90}@a-long-domain.example>", "<x y@z>"]  # the last two: flattened whole
    for n, message_id in enumerate(ids):
        body_html = html and html.replace("Hällo", f"Hällo {n}")
        flat = flatten_for(build_message(**FIELDS, text=text, html=body_html,
                                         message_id=message_id), "zoe@example.com", [recipient])
        random.seed(n)
        cut = template.wire(text=text, html=body_html, message_id=message_id,
                            smtputf8=flat.smtputf8)
        random.seed(n)
        expected = flatten_for(build_message(**FIELDS, text=text, html=body_html,
                                             message_id=message_id), "zoe@example.com",
                               [recipient])
        assert cut == expected.data
    # Each copy its own boundary.
    first, second = (template.wire(text=TEXT, html=HTML, message_id=ids[0], smtputf8=False)
                     for _ in range(2))
    assert first != second and len(first) == len(second)
