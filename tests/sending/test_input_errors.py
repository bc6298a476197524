"""sendEmail refuses bad input with stable codes, stores nothing and sends nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugin.sending.models import SentEmail
from tests.sending.helpers import mail_from, send

HOSTILE = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed"),
    ("{{ cycler.__init__.__globals__ }}", "not allowed"),
    ("<p>{{ missing }}</p>", "undefined"),
    ("{% for i in range(10**9) %}x{% endfor %}", "range"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "longer"),
    ("{{ 'x' * 10**12 }}", "memory"),
    ("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", "size limit"),
    ("{% if %}", "syntax"),
]


@pytest.mark.parametrize(("template", "says"), HOSTILE)
async def test_hostile_templates_are_user_errors(
    gql: Any, make_user: Any, template: str, says: str
) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["a@example.com"], html=template, context={"name": "x"})
    assert payload["email"] is None and payload["tracking"] is None
    (error,) = payload["errors"]
    assert error["code"] == "TEMPLATE_ERROR" and says in error["message"], error
    assert await SentEmail.filter(user_id=user.id).count() == 0


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "HEADER_INJECTION", "subject"),
        ({"subject": "Hi\nX-Evil: 1"}, "HEADER_INJECTION", "subject"),
        ({"subject": "Hi\x00"}, "HEADER_INJECTION", "subject"),
        ({"to": ["a@example.com\r\nBcc: victim@example.com"]}, "HEADER_INJECTION", "to"),
        ({"cc": ["c@example.com\nX: y"]}, "HEADER_INJECTION", "cc"),
        ({"to": ["not-an-address"]}, "INVALID_ADDRESS", "to"),
        ({"bcc": ["a@b"]}, "INVALID_ADDRESS", "bcc"),
        ({"to": ["x@foo.invalid"]}, "INVALID_ADDRESS", "to"),
        ({"to": []}, "NO_RECIPIENT", "to"),
        ({"cc": ["A@EXAMPLE.com"]}, "DUPLICATE_RECIPIENT", "cc"),
        ({"html": None}, "EMPTY_BODY", "html"),
        ({"html": "  "}, "EMPTY_BODY", "html"),
        ({"subject": "s" * 999}, "TOO_LARGE", "subject"),
        ({"context": [1, 2]}, "INVALID_INPUT", "context"),
        ({"idempotencyKey": "k" * 201}, "INVALID_INPUT", "idempotencyKey"),
        # A context value must not put a header into a rendered subject.
        ({"subject": "Hi {{ n }}", "context": {"n": "x\r\nBcc: v@example.com"}},
         "HEADER_INJECTION", "subject"),
    ],
)
async def test_invalid_input(
    gql: Any, make_user: Any, fields: dict[str, Any], code: str, field: str
) -> None:
    user = await make_user()
    base: dict[str, Any] = {"to": ["a@example.com"], "subject": "Hello", "html": "<p>x</p>"}
    payload = await send(gql, user, **{**base, **fields})
    assert payload["email"] is None
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert await SentEmail.filter(user_id=user.id).count() == 0


async def test_every_problem_is_reported(gql: Any, make_user: Any) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["bad"], cc=["also bad"], subject="a\nb", html="")
    codes = sorted(e["code"] for e in payload["errors"])
    assert codes == ["EMPTY_BODY", "HEADER_INJECTION", "INVALID_ADDRESS", "INVALID_ADDRESS"]


async def test_too_many_recipients(gql: Any, make_user: Any, settings: Any) -> None:
    user = await make_user()
    many = [f"r{i}@example.com" for i in range(settings.max_recipients + 1)]
    payload = await send(gql, user, to=many, html="<p>x</p>")
    assert [e["code"] for e in payload["errors"]] == ["TOO_MANY_RECIPIENTS"]


async def test_reserved_test_domains_are_valid(gql: Any, make_user: Any, smtp_server: Any) -> None:
    user = await make_user()
    payload = await send(gql, user, to=["x@example.com", "y@foo.example", "z@foo.test"],
                         html="<p>x</p>")
    assert payload["errors"] == []
    (envelope,) = await mail_from(smtp_server, user.email)
    assert sorted(envelope.rcpt_tos) == ["x@example.com", "y@foo.example", "z@foo.test"]


async def test_concurrent_sends_with_one_key_store_one_email(
    gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    payloads = await asyncio.gather(*(
        send(gql, user, to=["a@example.com"], html="<p>x</p>", idempotencyKey="race")
        for _ in range(5)
    ))
    assert len({p["email"]["id"] for p in payloads}) == 1
    assert await SentEmail.filter(user_id=user.id).count() == 1
    await mail_from(smtp_server, user.email)
    await asyncio.sleep(0.3)  # nothing more arrives
    assert len([e for e in smtp_server.envelopes if e.mail_from == user.email]) == 1


async def test_more_links_than_the_limit_is_a_clear_error(
    gql: Any, make_user: Any, settings: Any
) -> None:
    user = await make_user()
    limit = settings.max_links_per_email
    link = '<a href="https://example.com/offer">offer</a>'
    payload = await send(gql, user, to=["a@example.com"], html=link * (limit + 1))
    assert payload["email"] is None
    (error,) = payload["errors"]
    assert error["code"] == "TOO_MANY_LINKS" and str(limit) in error["message"], error
    assert await SentEmail.filter(user_id=user.id).count() == 0
    # Without link tracking the same body is no work for the tracker: it goes out.
    fine = await send(
        gql, user, to=["a@example.com"], html=link * (limit + 1), trackLinks=False
    )
    assert fine["errors"] == [] and fine["email"] is not None
