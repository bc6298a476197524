"""Browser fixtures: Debian's chromium, headless, driven by Playwright.

``browser`` (one per run) and ``page`` (one per test). The page records what a test
usually wants to be empty: console errors, uncaught page errors, failed requests and
requests to any host but this machine (those are refused before they leave, so a page
that needs the internet fails here as it would on an offline CRM installation).

Playwright's own browser download does not work here: we launch the system chromium
(``apt-get install chromium``; .ci/run installs it). A missing chromium fails the test
with a message saying so: a browser test is never skipped silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, async_playwright

__all__ = ["LOCAL_HOSTS", "BrowserPage", "browser", "chromium_path", "page"]

# The test servers listen on 127.0.0.1; anything else is "another host".
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

# Headless, and nothing the browser would do on its own behind the test's back (updates,
# sync, field trials): on a machine without internet those are refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
]


def chromium_path() -> Path:
    """The chromium to drive (``MAILBEACON_TEST_CHROMIUM`` overrides Debian's)."""
    configured = os.environ.get("MAILBEACON_TEST_CHROMIUM")
    if configured:
        return Path(configured)
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return Path(found)


@dataclass
class BrowserPage:
    """A fresh page and what happened in it."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"failed request: {m}" for m in self.failed_requests),
            *(f"request to another host: {m}" for m in self.foreign_requests),
        ]

    def assert_clean(self) -> None:
        """No console or page error, no failed request, nothing asked of another host."""
        assert not self.problems(), "\n".join(self.problems())


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS or f"[{parts.hostname}]" in LOCAL_HOSTS


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if not executable.is_file():
        pytest.fail(
            f"chromium is missing ({executable} not found): the browser tests need Debian's "
            "chromium (`apt-get install chromium`; .ci/run installs it), or set "
            "MAILBEACON_TEST_CHROMIUM to a chromium binary",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[BrowserPage]:
    context = await browser.new_context()
    opened = await context.new_page()
    record = BrowserPage(opened)

    async def refuse_other_hosts(route: Route, request: Request) -> None:
        if is_local(request.url):
            await route.continue_()
        else:
            record.foreign_requests.append(f"{request.method} {request.url}")
            await route.abort("blockedbyclient")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url")
            record.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def on_failed(request: Request) -> None:
        if is_local(request.url):  # a refused foreign request is reported as such above
            record.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    await context.route("**/*", refuse_other_hosts)
    opened.on("console", on_console)
    opened.on("pageerror", lambda error: record.page_errors.append(str(error)))
    opened.on("requestfailed", on_failed)
    # WebSockets bypass routing: record any to another host all the same.
    opened.on(
        "websocket",
        lambda ws: None if is_local(ws.url) else record.foreign_requests.append(f"WS {ws.url}"),
    )
    try:
        yield record
    finally:
        await context.close()
