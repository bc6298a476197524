"""PostgreSQL sessions plan each statement for its own parameters (plugin.db._connection)."""

from __future__ import annotations

import pytest
from tortoise.connection import get_connection

from tests.conftest import backend


@pytest.mark.skipif(backend() != "postgres", reason="a PostgreSQL session setting")
async def test_postgres_sessions_never_switch_to_a_generic_plan(server: str) -> None:
    rows = await get_connection("default").execute_query_dict("SHOW plan_cache_mode")
    assert rows[0]["plan_cache_mode"] == "force_custom_plan"
