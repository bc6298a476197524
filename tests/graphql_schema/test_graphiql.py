"""GraphiQL works offline: every asset from mailbeacon, a query answered with a token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from starlette.applications import Starlette

from tests.browser import BrowserPage
from tests.conftest import UserFactory, free_port


@pytest.fixture
async def development_server(server: str, settings: Any) -> AsyncIterator[str]:
    """mailbeacon's routes with GraphiQL on (env=development), beside the test server.

    It shares the test server's storage and runtime, so it runs no lifespan of its own.
    """
    import uvicorn

    from plugin.app import plugin_routes

    app = Starlette(routes=plugin_routes(replace(settings, env="development")))
    port = free_port()
    uv_server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(uv_server.serve())
    while not uv_server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    yield f"http://127.0.0.1:{port}"
    uv_server.should_exit = True
    await task


async def _set_editor(page: BrowserPage, editor: str, text: str) -> None:
    """Replace an editor's text the way a user pastes it."""
    await page.page.locator(f"{editor} .CodeMirror:visible").click()
    await page.page.keyboard.press("Control+A")
    await page.page.keyboard.insert_text(text)


async def test_graphiql_runs_a_query_with_a_token_and_asks_no_other_host(
    page: BrowserPage, development_server: str, make_user: UserFactory
) -> None:
    user = await make_user()
    response = await page.page.goto(f"{development_server}/graphql")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    results = page.page.locator(".result-window")
    run = page.page.locator(".graphiql-execute-button")

    # Without a token, GraphiQL says what to do (and sends nothing bound to fail).
    await run.click()
    await expect(results).to_contain_text("Add your API token in the Headers tab")

    await page.page.get_by_role("button", name="Headers").click()
    await _set_editor(page, ".graphiql-editor-tool", f'{{"Authorization": "Bearer {user.token}"}}')
    await _set_editor(page, ".graphiql-query-editor", "{ me { email } }")
    await run.click()
    await expect(results).to_contain_text(user.email)
    page.assert_clean()


async def test_the_page_pins_its_vendored_assets(development_server: str) -> None:
    """Every script and stylesheet is served here and matches the page's SRI hash."""
    async with httpx.AsyncClient(base_url=development_server) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "<script>" not in page.text  # no inline script
        assets = re.findall(r'(?:src|href)="([^"]+)"\s+integrity="sha384-([^"]+)"', page.text)
        assert len(assets) == 4
        for path, digest in assets:
            assert not path.startswith(("http:", "https:", "//"))
            served = await client.get(f"/{path}")
            assert served.status_code == 200, path
            assert served.headers["x-content-type-options"] == "nosniff"
            assert base64.b64encode(hashlib.sha384(served.content).digest()).decode() == digest


async def test_graphiql_is_off_outside_development(http: httpx.AsyncClient) -> None:
    answer = await http.get("/graphql", headers={"Accept": "text/html"})
    assert answer.status_code == 401 and "GraphiQL" not in answer.text
