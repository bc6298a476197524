"""The browser fixture itself: a real headless chromium that reports what a page did."""

from __future__ import annotations

from tests.browser import BrowserPage


async def test_the_browser_loads_a_page_of_the_server(page: BrowserPage, server: str) -> None:
    response = await page.page.goto(f"{server}/healthz")
    assert response is not None and response.status == 200
    page.assert_clean()


async def test_requests_to_other_hosts_are_refused_and_reported(page: BrowserPage) -> None:
    await page.page.set_content(
        '<img src="https://cdn.example.com/pixel.gif">'
        "<script>console.error('boom')</script>"
    )
    await page.page.wait_for_load_state("load")
    assert page.foreign_requests == ["GET https://cdn.example.com/pixel.gif"]
    assert "boom" in page.console_errors  # (beside chromium's own report of the refusal)
    assert page.failed_requests == []
