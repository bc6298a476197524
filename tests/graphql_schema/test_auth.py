"""Authentication: bearer tokens on HTTP, nothing but an UNAUTHENTICATED error without one."""

from __future__ import annotations

import httpx

from tests.conftest import GraphQL, UserFactory

ME = "{ me { email name } trackingPreferences { openTrackingEnabled } }"


async def test_me_with_a_valid_token(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user(name="Ada")
    body = await gql(ME, user=user)
    assert body["data"]["me"] == {"email": user.email, "name": "Ada"}
    assert body["data"]["trackingPreferences"] == {"openTrackingEnabled": True}


async def test_no_token_is_one_unauthenticated_error_and_nothing_else(gql: GraphQL) -> None:
    body = await gql(ME)
    assert body["_status"] == 401
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_forged_malformed_and_revoked_tokens_are_refused(
    gql: GraphQL, make_user: UserFactory
) -> None:
    from plugin.accounts.service import revoke_token

    user = await make_user()
    for header in (
        f"Bearer {user.token}x",
        f"Bearer {user.token[:-1]}",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        user.token,
        "Bearer mb_" + "A" * 5000,
        "Bearer \u00e9\u00e8".encode("latin-1"),
    ):
        body = await gql(ME, headers={"Authorization": header})
        assert body["_status"] == 401, header
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await revoke_token(user.token) == 1
    body = await gql(ME, user=user)
    assert body["_status"] == 401


async def test_malformed_json_gets_a_clear_error(
    http: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    response = await http.post(
        "/graphql",
        content=b'{"query": ',
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "Traceback" not in response.text


async def test_invalid_utf8_body_gets_a_clear_error(
    http: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ me { email } }\xff\xfe"}',
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "Traceback" not in response.text
