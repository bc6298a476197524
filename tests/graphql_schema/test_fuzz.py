"""Schema-driven fuzzing of the GraphQL API (hypothesis-graphql) against the live server.

Queries and mutations generated from the served schema, valid (POSITIVE) and
invalid (NEGATIVE: wrong types, missing arguments...), posted as an authenticated
user. Whatever comes in, the server answers: never a 5xx, never a masked internal
error, never a traceback, every error with a stable ``extensions.code``. The run is
bounded (a fixed number of examples) and derandomized, so the suite stays fast and
gives the same answer every run; explore further with
``MAILBEACON_FUZZ_EXAMPLES=1000 MAILBEACON_FUZZ_RANDOM=1 pytest tests/graphql_schema/test_fuzz.py``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from graphql_schema.schema import build_schema
from tests.conftest import UserFactory

SCHEMA = build_schema()._schema
SCALARS = {
    "DateTime": st.sampled_from(
        ["2026-01-01T00:00:00Z", "2026-13-45T99:00:00", "not a date", ""]
    ).map(nodes.String),
    "JSON": st.one_of(st.text(max_size=20).map(nodes.String), st.integers().map(nodes.Int)),
}
FUZZ = settings(
    max_examples=int(os.environ.get("MAILBEACON_FUZZ_EXAMPLES", "60")),
    derandomize=not os.environ.get("MAILBEACON_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_well_answered(response: httpx.Response, query: str) -> None:
    assert response.status_code < 500, (response.status_code, query, response.text[:500])
    body: dict[str, Any] = response.json()
    text = response.text
    assert "Traceback" not in text and "Unexpected error" not in text, (query, text[:1000])
    for error in body.get("errors") or []:
        assert error.get("extensions", {}).get("code"), (query, error)


@pytest.fixture
async def fuzz_client(http: httpx.AsyncClient, make_user: UserFactory) -> httpx.AsyncClient:
    user = await make_user()
    http.headers["Authorization"] = f"Bearer {user.token}"
    return http


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_generated_operations_never_break_the_server(
    fuzz_client: httpx.AsyncClient, mode: Mode
) -> None:
    @FUZZ
    @given(from_schema(SCHEMA, custom_scalars=SCALARS, mode=mode))
    def run(query: str) -> None:
        queries.append(query)

    # hypothesis drives a sync function; the requests go out afterwards on the test's loop.
    queries: list[str] = []
    run()
    assert queries
    for query in queries:
        response = await fuzz_client.post("/graphql", json={"query": query})
        assert_well_answered(response, query)
