"""What the README tells a new user to type works: its commands are run as written."""

from __future__ import annotations

import asyncio
import email
import json
import os
import re
import shutil
import subprocess
from email import policy
from pathlib import Path

import websockets

from tests.conftest import SmtpRecorder, UserFactory
from tests.live.wsclient import PROTOCOL

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCUMENTED_BASE = "http://127.0.0.1:8000"


def documented_block(name: str) -> str:
    """The fenced block right after ``<!-- readme-test: NAME -->``."""
    match = re.search(rf"<!-- readme-test: {name} -->\n```\w*\n(.*?)\n```", README, re.S)
    assert match, f"README.md has no block marked readme-test: {name}"
    return match.group(1)


async def test_the_documented_send_email_curl_sends_an_email(
    server: str, make_user: UserFactory, smtp_server: SmtpRecorder
) -> None:
    assert shutil.which("curl"), "the README's example needs curl"
    command = documented_block("sendEmail")
    assert DOCUMENTED_BASE in command
    user = await make_user()
    smtp_server.reset()
    # The documented text, run by a shell; only the port differs (the test server's).
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", command.replace(DOCUMENTED_BASE, server),
        env={**os.environ, "TOKEN": user.token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    answer = json.loads(out)["data"]["sendEmail"]
    assert answer["errors"] == []
    assert answer["tracking"]["opens"] is True and answer["tracking"]["links"] is True
    assert answer["email"]["id"]
    for _ in range(1000):  # the embedded worker delivers it to the test's SMTP server
        if smtp_server.envelopes:
            break
        await asyncio.sleep(0.02)
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["prospect@example.com"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    html = message.get_body(("html",))
    assert html is not None and "Hi Ann, see" in html.get_content()


async def test_websocket_authentication_is_as_documented(
    server: str, make_user: UserFactory
) -> None:
    """The token goes in connectionParams (either spelling); an upgrade header is not read."""
    user = await make_user()
    url = server.replace("http://", "ws://") + "/graphql"

    async def first_answer(payload: dict[str, str], headers: dict[str, str]) -> object:
        async with websockets.connect(
            url, subprotocols=[PROTOCOL], additional_headers=headers  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    bearer = f"Bearer {user.token}"
    assert 'connectionParams: { Authorization: `Bearer ${token}` }' in README
    assert await first_answer({"Authorization": bearer}, {}) == "connection_ack"
    assert await first_answer({"authorization": bearer}, {}) == "connection_ack"
    assert await first_answer({}, {"Authorization": bearer}) == 4403


def test_make_run_takes_the_documented_port() -> None:
    assert "make run PORT=8080" in README
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8080"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "MAILBEACON_PORT=8080 " in done.stdout.splitlines()[-1]
    assert "mailbeacon serve" in done.stdout.splitlines()[-1]
