"""Hostile GraphQL documents get a clear error, never a stack trace or a slow answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import GraphQL, UserFactory


def _no_trace(body: dict[str, Any]) -> None:
    assert "Traceback" not in str(body)
    assert body.get("errors"), body


async def test_a_query_nested_50_deep_is_refused_for_its_depth(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    query = "{ " + "sentEmails { edges { node { " * 17 + "id" + " } } }" * 17 + " }"
    body = await gql(query, user=user)
    _no_trace(body)
    assert any("depth" in e["message"] for e in body["errors"])


async def test_a_one_megabyte_query_is_refused_for_its_size(
    http: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    query = "{ me { email } }" + " " * (1024 * 1024)
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {user.token}"}
    )
    body = response.json()
    _no_trace(body)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


async def test_a_body_beyond_the_request_limit_is_refused_unread(
    http: httpx.AsyncClient, settings
) -> None:
    oversized = b"x" * (settings.max_body_bytes * 2 + settings.graphql_max_query_bytes + 1)
    response = await http.post(
        "/graphql", content=oversized, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_unknown_fields_are_validation_errors(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    body = await gql("{ me { email password } }", user=user)
    _no_trace(body)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "password" in body["errors"][0]["message"]


async def test_alias_floods_are_refused(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    query = "{ " + " ".join(f"a{i}: me {{ email }}" for i in range(200)) + " }"
    body = await gql(query, user=user)
    _no_trace(body)


async def test_page_sizes_are_bounded_with_a_clear_error(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    for first in (0, -1, 101, 10**6):
        body = await gql(
            "query($n: Int) { sentEmails(first: $n) { totalCount } }", {"n": first}, user=user
        )
        assert body["errors"][0]["extensions"]["code"] == "INVALID_PAGE_SIZE", first
    body = await gql("{ sentEmails(first: 100) { totalCount } }", user=user)
    assert body["data"]["sentEmails"]["totalCount"] == 0


async def test_a_garbage_cursor_is_a_clear_error(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    for cursor in ("garbage", "\u00ff\u00fe", "=" * 50, "MjAyNi0xMS0zMFQxMDowMDowMHxub3RhbmludA"):
        body = await gql(
            "query($c: String) { sentEmails(after: $c) { totalCount } }", {"c": cursor}, user=user
        )
        assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR", cursor


async def test_preferences_update_and_read_back(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    other = await make_user()
    mutation = """mutation($i: TrackingPreferencesInput!) { updateTrackingPreferences(input: $i) {
        openTrackingEnabled linkTrackingEnabled notificationsEnabled
        defaultTrackOpens defaultTrackLinks } }"""
    body = await gql(
        mutation, {"i": {"openTrackingEnabled": False, "defaultTrackLinks": False}}, user=user
    )
    assert body["data"]["updateTrackingPreferences"] == {
        "openTrackingEnabled": False,
        "linkTrackingEnabled": True,
        "notificationsEnabled": True,
        "defaultTrackOpens": True,
        "defaultTrackLinks": False,
    }
    theirs = await gql("{ trackingPreferences { openTrackingEnabled } }", user=other)
    assert theirs["data"]["trackingPreferences"]["openTrackingEnabled"] is True


HEAVY_PAGE = """sentEmails(first: 100) { edges { node { id subject
    events(first: 500) { id kind occurredAt source url } links { url clickCount } } } }"""


async def test_thirty_aliases_of_heavy_pages_are_refused_for_their_cost(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    query = "{ " + " ".join(f"a{i}: {HEAVY_PAGE}" for i in range(30)) + " }"
    body = await gql(query, user=user)
    _no_trace(body)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_cost_follows_variables_and_fragments(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    query = """query($n: Int, $e: Int) { sentEmails(first: $n) { edges { node { ...E } } } }
        fragment E on SentEmail { id events(first: $e) { id kind } }"""
    refused = await gql(query, {"n": 100, "e": 500}, user=user)
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    fine = await gql(query, {"n": 20, "e": 50}, user=user)
    assert "errors" not in fine, fine
    assert fine["data"]["sentEmails"]["edges"] == []


async def test_the_mail_tab_and_one_emails_events_are_within_the_cost(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    mail_tab = """{ sentEmails(first: 100) { totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id subject to cc status createdAt sentAt tracked opened
        openCount firstOpenedAt lastOpenedAt clicked clickCount trackingReasons } } } }"""
    assert "errors" not in await gql(mail_tab, user=user)
    one = '{ sentEmail(id: "1") { id events(first: 500) { id kind source url occurredAt } } }'
    assert "errors" not in await gql(one, user=user)


async def test_introspection_is_not_counted(gql: GraphQL, make_user: UserFactory) -> None:
    from graphql import get_introspection_query

    user = await make_user()
    body = await gql(get_introspection_query(descriptions=True), user=user)
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_text_the_database_cannot_store_is_a_coded_error_and_stores_nothing(
    gql: GraphQL, make_user: UserFactory
) -> None:
    from plugin.sending.models import SentEmail
    from tests.conftest import backend

    user = await make_user()
    send = """mutation($i: SendEmailInput!) { sendEmail(input: $i) { errors { code } } }"""
    answers = [
        await gql(send, {"i": {"to": ["a@example.com"], "subject": "s", "text": "x", **fields}},
                  user=user)
        for fields in ({"idempotencyKey": "k\u0000"}, {"text": "a\u0000b"})
    ]
    answers.append(
        await gql('{ sentEmails(filter: {search: "a\\u0000"}) { totalCount } }', user=user)
    )
    for body in answers:
        assert "Unexpected" not in str(body) and "Traceback" not in str(body), body
        if backend() == "postgres":  # SQLite keeps a NUL like any other character
            assert body["errors"][0]["extensions"]["code"] == "INVALID_TEXT", body
    if backend() == "postgres":
        assert await SentEmail.filter(user_id=user.id).count() == 0
