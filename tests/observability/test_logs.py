"""Logs: one access line per request, one line per copy and recorded batch, no personal data.

The scenario drives sends (delivered and refused), hits, consent pages and
errors through the real server, then reads every line it logged: standard
error (access lines) and every log record at INFO and above (through the
redacting filter production uses, and raw for mailbeacon's own loggers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from consent.signing import keys_for
from plugin.observability.access_log import AccessWriter, loggable_path
from plugin.observability.logs import JsonFormatter, RedactingFilter, redact_addresses
from plugin.sending.models import EmailStatus, SentEmail
from tests.conftest import METRICS_TOKEN
from tests.sending.helpers import mail_from, send
from tests.tracking.tracked_mail import THUNDERBIRD_UA, wait_until

OURS = ("plugin", "consent", "graphql_schema", "workers", "mailbeacon")
CLIENT_SIDE = ("httpx", "httpcore", "mail.log")  # the test's HTTP client and SMTP server
SRC = re.compile(r'(?:src|href)="(http://127\.0\.0\.1:\d+(/t/[oc]/[^"]+))"')


def _lines_of(records: list[logging.LogRecord]) -> tuple[list[str], list[str]]:
    """(our loggers' raw lines, every server line as production prints it)."""
    raw, shown = [], []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        if record.levelno < logging.INFO or record.name.startswith(CLIENT_SIDE):
            continue
        text = formatter.format(record)
        if record.name.startswith(OURS):
            raw.append(text)
        RedactingFilter().filter(record)
        shown.append(formatter.format(record))
    return raw, shown


async def test_no_address_body_token_or_client_ip_in_any_log_line(
    http: httpx.AsyncClient, gql: Any, make_user: Any, smtp_server: Any, settings: Any,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    marker = uuid.uuid4().hex
    delivered = f"ann.{marker[:8]}@example.org"
    refused = f"bob.{marker[:8]}@example.net"
    body = f"Secret offer {marker}"
    user = await make_user()
    smtp_server.refuse[refused] = "550 5.1.1 no such user"

    # A delivered copy and a refused one.
    sent = await send(gql, user, to=[delivered], trackOpens=True, trackLinks=True,
                      html=f'<p>{body} <a href="https://example.com/x">x</a></p>')
    (envelope,) = await mail_from(smtp_server, user.email)
    failed = await send(gql, user, to=[refused], html=f"<p>{body}</p>")

    async def failed_yet() -> bool:
        email = await SentEmail.get(id=int(failed["email"]["id"]))
        return email.status == EmailStatus.FAILED

    await wait_until(failed_yet)

    # Hits on the delivered mail, a bad token, a bad method.
    content = envelope.content.decode("utf-8", "replace").replace("=\r\n", "")
    urls = {path for _, path in SRC.findall(content.replace("=3D", "="))}
    tokens = [path.split("/", 3)[3].removesuffix(".gif") for path in urls]
    assert any("/t/o/" in p for p in urls) and any("/t/c/" in p for p in urls)
    for path in urls:
        await http.get(path, headers={"User-Agent": THUNDERBIRD_UA})
    await http.get(f"/t/o/{marker}.gif")
    await http.post(next(path for path in urls if path.startswith("/t/o/")))

    # Consent pages (a real link, a form post, a broken link), errors, metrics, GraphQL.
    consent_token = keys_for(settings).sign_personal_link(
        delivered, expires_at=time.time() + 3600
    )
    await http.get(f"/consent/{consent_token}")
    await http.post(f"/consent/{consent_token}", data={"choice": "grant", "form": marker})
    await http.get(f"/consent/{marker}")
    await http.get("/nowhere/at-all")
    await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    await http.get("/metrics", headers={"Authorization": f"Bearer {marker}"})
    await gql("{ me { email } }", user=user)
    await gql("{ nonsense }", user=user)
    await gql("{ me { email } }", headers={"Authorization": f"Bearer mb_{marker}"})

    async def batch_recorded() -> bool:
        return any("recorded a batch" in r.getMessage() for r in caplog.records)

    await wait_until(batch_recorded)
    await asyncio.sleep(0.2)  # the access writer flushes every 50 ms
    access = [line for line in capsys.readouterr().err.splitlines() if "mailbeacon.access" in line]
    raw, shown = _lines_of(caplog.records)

    # The lines are there...
    assert any(" GET /t/o/<token> 200 " in line for line in access)
    assert any(" GET /t/c/<token> 302 " in line for line in access)
    assert any(" POST /t/o/<token> 405 " in line for line in access)
    assert any(" GET /consent/<token> 200 " in line for line in access)
    assert any(" POST /graphql 200 " in line for line in access)
    assert any(" GET /metrics 401 " in line for line in access)
    assert any(re.search(r"copy \d+ of email \d+ sent in \d+ ms", line) for line in raw)
    assert any(re.search(r"copy \d+ of email \d+ failed", line) for line in raw)
    assert any("recorded a batch of" in line for line in raw)
    # ...and none carries an address, the body, a token or the client's address.
    secrets = [delivered, refused, marker, user.token, METRICS_TOKEN, consent_token, *tokens,
               user.email, "127.0.0.1"]
    for line in [*access, *raw, *shown]:
        for secret in secrets:
            assert secret not in line, f"{secret!r} in log line: {line}"
    assert sent["errors"] == []


def test_paths_keep_their_shape_without_tokens() -> None:
    assert loggable_path("/t/o/abc.gif") == "/t/o/<token>"
    assert loggable_path("/t/c/abc") == "/t/c/<token>"
    assert loggable_path("/consent/abc") == "/consent/<token>"
    assert loggable_path("/graphql") == "/graphql"
    assert loggable_path("/mb/t/o/abc.gif") == "/mb/t/o/<token>"  # under a path prefix


def test_redaction_masks_addresses_and_ips_but_not_times() -> None:
    text = "to ann@example.org from 198.51.100.7 and 2001:db8::1 at 12:30:45"
    assert redact_addresses(text) == "to <address> from <ip> and <ip> at 12:30:45"


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    record = logging.LogRecord("plugin.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO" and entry["logger"] == "plugin.x"
    assert entry["message"] == "hello you" and entry["time"].endswith("Z")
    writer = AccessWriter("json")
    writer.write("GET", "/t/o/<token>", 200, 0.42)
    writer.flush()
    (line,) = capsys.readouterr().err.splitlines()
    access = json.loads(line)
    assert access["logger"] == "mailbeacon.access"
    assert (access["method"], access["path"], access["status"], access["duration_ms"]) == (
        "GET", "/t/o/<token>", 200, 0.42
    )
