"""Delivery transports and the MIME message, without the worker."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from plugin.sending.delivery import (
    TemporaryDeliveryError,
    _connection,
    deliver,
    outbox_dir,
)
from plugin.sending.mime import build_message, new_message_id
from tests.conftest import free_port


def _message(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "sender_name": "Zoë \"Q\" Sender", "sender_address": "zoe@example.com",
        "to": ["a@example.com", "b@bücher.example"], "cc": [], "subject": "Ünïcode " + "long " * 40,
        "text": "t" * 3000 + "\nhttps://example.com/" + "p" * 500,
        "html": "<p>" + "é" * 5000 + "</p>", "message_id": new_message_id("t.example.com"),
    }
    fields.update(overrides)
    return build_message(**fields)


def test_mime_is_7bit_clean_with_short_lines_and_round_trips() -> None:
    message = _message()
    raw = message.as_bytes()
    assert raw.isascii() and all(len(line) <= 78 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Ünïcode " + "long " * 40
    assert parsed["From"].addresses[0].display_name == 'Zoë "Q" Sender'
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",))
    assert html is not None and html.get_content().rstrip("\r\n") == "<p>" + "é" * 5000 + "</p>"
    assert parsed["Bcc"] is None and parsed["MIME-Version"] == "1.0"


def test_mime_with_one_part_only() -> None:
    parsed = message_from_bytes(_message(text=None).as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "text/html"


def test_smtp_urls() -> None:
    assert _connection("smtp://mail.example.com") == {
        "hostname": "mail.example.com", "port": 25, "use_tls": False, "start_tls": False,
        "timeout": 60.0}
    starttls = _connection("smtp+starttls://u%40x:p%3Aw@mail.example.com")
    assert (starttls["port"], starttls["start_tls"]) == (587, True)
    assert (starttls["username"], starttls["password"]) == ("u@x", "p:w")
    tls = _connection("smtps://mail.example.com:2465")
    assert (tls["port"], tls["use_tls"], tls["start_tls"]) == (2465, True, False)


async def test_outbox_mode_writes_one_file_atomically(settings: Any, tmp_path: Path) -> None:
    local = dataclasses.replace(settings, smtp_url=None, data_dir=tmp_path)
    message = _message()
    result = await deliver(message, sender="zoe@example.com", recipients=["a@example.com",
                           "hidden@example.com"], settings=local)
    assert result.refused == {}
    (written,) = list(outbox_dir(local).iterdir())
    assert written.name == message["Message-ID"].strip("<>") + ".eml"
    parsed = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed.get_all("X-Envelope-To") == ["<a@example.com>", "<hidden@example.com>"]


async def test_connection_refused_is_temporary(settings: Any) -> None:
    closed = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(TemporaryDeliveryError):
        await deliver(_message(), sender="zoe@example.com", recipients=["a@example.com"],
                      settings=closed)
