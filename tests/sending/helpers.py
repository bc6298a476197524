"""Helpers for the sending tests: the mutation, waiting for mail, parsing it."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from plugin.sending.models import EmailStatus, SentEmail

SEND = """
mutation($input: SendEmailInput!) {
  sendEmail(input: $input) {
    email { id subject to cc status messageId sentAt trackOpens trackLinks tracked error
            trackingReasons links { url } }
    tracking { opens links reasons }
    errors { field code message }
  }
}
"""


async def send(gql: Any, user: Any, **fields: Any) -> dict[str, Any]:
    """Run sendEmail and return its payload (fails on a GraphQL-level error)."""
    fields.setdefault("subject", "Hello")
    answer = await gql(SEND, {"input": fields}, user=user)
    assert "errors" not in answer, answer
    payload: dict[str, Any] = answer["data"]["sendEmail"]
    return payload


async def mail_from(smtp: Any, sender: str, count: int = 1, timeout: float = 20) -> list[Any]:
    """Wait (bounded) until ``count`` envelopes from ``sender`` arrived; return them."""
    for _ in range(int(timeout / 0.05)):
        found = [e for e in smtp.envelopes if e.mail_from == sender]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} message(s) from {sender}, got {len(found)}")


async def email_status(email_id: int | str, *wanted: EmailStatus, timeout: float = 20) -> SentEmail:
    """Wait (bounded) until the email reaches one of ``wanted``; return it."""
    for _ in range(int(timeout / 0.05)):
        email = await SentEmail.get(id=int(email_id))
        if email.status in wanted:
            return email
        await asyncio.sleep(0.05)
    raise AssertionError(f"email {email_id} stayed {email.status}")


def parse(envelope: Any) -> EmailMessage:
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and html bodies of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()
