"""Client mistakes are validation errors with codes, and logs never quote personal data.

Finding 7 of issue 11: an oversized cursor number (OverflowError), a very long search
(SQLite "LIKE or GLOB pattern too complex") and a lone surrogate in a subject
(UnicodeEncodeError) answered "Unexpected error." and were logged at ERROR with the
recipients, subject and body.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest

from plugin.hooks import OutgoingEmail, registry
from plugin.sending.models import SentEmail
from tests.conftest import ApiUser, GraphQL, UserFactory
from tests.sending.helpers import SEND

LIST = """query($after: String, $search: String) {
  sentEmails(after: $after, filter: {search: $search}) { totalCount } }"""
NOTIFICATIONS = "query($after: String) { notifications(after: $after) { totalCount } }"


async def _ascii_json(
    http: httpx.AsyncClient, user: ApiUser, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    # JSON spells a lone surrogate as an escape (``"\\ud800"``), as a hostile client sends it.
    content = json.dumps({"query": query, "variables": variables or {}}, ensure_ascii=True)
    response = await http.post(
        "/graphql", content=content,
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
    )
    answer: dict[str, Any] = response.json()
    return answer


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BAD_CURSORS = [
    _cursor("2026-01-01T00:00:00+00:00|" + "9" * 40),  # the OverflowError of the finding
    _cursor("2026-01-01T00:00:00+00:00|9223372036854775808"),  # one past BIGINT
    _cursor("2026-01-01T00:00:00+00:00|-1"),
    _cursor("2026-01-01T00:00:00|5"),  # naive time
    _cursor("9999-12-31T23:59:59-23:59|5"),  # leaves the calendar in UTC
    _cursor("0001-01-01T00:00:00+23:59|5"),
    _cursor("x|5"),
    "A" * 5000,
    "not base64 !",
    "\u00e9t\u00e9",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("query", [LIST, NOTIFICATIONS], ids=["sentEmails", "notifications"])
async def test_a_bad_cursor_is_invalid_cursor(
    gql: GraphQL, make_user: UserFactory, caplog: pytest.LogCaptureFixture, query: str,
    cursor: str,
) -> None:
    user = await make_user()
    with caplog.at_level(logging.WARNING):
        body = await gql(query, {"after": cursor}, user=user)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CURSOR"], body
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("search", "code"), [("a" * 201, "TOO_LARGE"), ("%_" * 30000, "TOO_LARGE")]
)
async def test_a_search_beyond_the_limit_is_refused(
    gql: GraphQL, make_user: UserFactory, caplog: pytest.LogCaptureFixture, search: str,
    code: str,
) -> None:
    user = await make_user()
    with caplog.at_level(logging.WARNING):
        body = await gql(LIST, {"search": search}, user=user)
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, "filter.search")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The longest allowed search, full of LIKE wildcards, is an ordinary search.
    body = await gql(LIST, {"search": "%_\\" * 66 + "xy"}, user=user)
    assert body["data"]["sentEmails"]["totalCount"] == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Hi \ud800 there"},
        {"html": "<p>\udfff</p>"},
        {"to": ["a\ud800@example.com"]},
        {"subject": "Hi {{ n }}", "context": {"n": "\ud800"}},
        {"context": {"\udc80": "key"}},
    ],
)
async def test_a_lone_surrogate_is_invalid_text(
    http: httpx.AsyncClient, make_user: UserFactory, caplog: pytest.LogCaptureFixture,
    fields: dict[str, Any],
) -> None:
    user = await make_user()
    draft = {"to": ["anna@firma.ch"], "subject": "Hello", "html": "<p>x</p>", **fields}
    with caplog.at_level(logging.WARNING):
        body = await _ascii_json(http, user, SEND, {"input": draft})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_TEXT"], body
    assert await SentEmail.filter(user_id=user.id).count() == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "query",
    [
        'query { recipientConsent(email: "a\ud800@example.com") { email } }',  # in the JSON
        'query { recipientConsent(email: "a\\ud800@example.com") { email } }',  # GraphQL escape
    ],
)
async def test_a_surrogate_in_the_document_itself_is_refused(
    http: httpx.AsyncClient, make_user: UserFactory, caplog: pytest.LogCaptureFixture,
    query: str,
) -> None:
    user = await make_user()
    with caplog.at_level(logging.WARNING):
        body = await _ascii_json(http, user, query)
    assert body["errors"][0]["extensions"]["code"] in ("INVALID_TEXT", "GRAPHQL_VALIDATION_FAILED")
    assert body["errors"][0]["message"] != "Unexpected error."
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_unexpected_error_is_masked_and_logged_without_personal_data(
    gql: GraphQL, make_user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user()

    def broken_policy(email: OutgoingEmail) -> None:
        # A host hook failing with the data in its message, as library errors do.
        raise RuntimeError(f"cannot decide for {email.recipients} about {email.subject!r}")

    draft = {"to": ["secret.person@firma.ch"], "subject": "Private matter",
             "html": "<p>confidential body</p>"}
    with registry.registered("before_email_sent", broken_policy), caplog.at_level(logging.ERROR):
        body = await gql(SEND, {"input": draft}, user=user)
    assert body["errors"][0]["message"] == "Unexpected error."
    logged = "\n".join(
        caplog.handler.format(r) for r in caplog.records if r.levelno >= logging.ERROR
    )
    assert "RuntimeError" in logged and "sendEmail" in logged  # what and where: still useful
    for personal in ("secret.person", "Private matter", "confidential"):
        assert personal not in logged
