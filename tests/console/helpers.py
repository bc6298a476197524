"""Driving the console in chromium: sign in, find rows and icons, take screenshots."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page, expect

from plugin.sending.models import EmailStatus, SentEmail
from tests.conftest import ApiUser

__all__ = [
    "LIVE_TIMEOUT_MS",
    "mail_row",
    "make_email",
    "screenshot",
    "sign_in",
    "tracking_requests",
]

# Live updates go through the queue, the worker and the WebSocket: generous, not timed.
LIVE_TIMEOUT_MS = 20_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def sign_in(page: Page, server: str, user: ApiUser) -> None:
    """Open the console and sign in with the user's API token; wait for the Mail tab."""
    await page.goto(f"{server}/console")
    await page.get_by_label("API token").fill(user.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Mail", exact=True)).to_be_visible()


def mail_row(page: Page, subject: str) -> Locator:
    """The Mail tab's row (a list item) of the email with this subject."""
    return page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name=subject, exact=True)
    )


def tracking_requests(page: Page) -> list[str]:
    """Start recording every request the page makes to a tracking path (/t/o/, /t/c/)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda request: seen.append(request.url) if "/t/o/" in request.url
        or "/t/c/" in request.url else None,
    )
    return seen


def screenshot_dir(fallback: Path) -> Path:
    """Where screenshots go: ``MAILBEACON_TEST_SCREENSHOTS`` (e.g. docs/screenshots, to
    refresh the README's pictures), else the test's temporary directory."""
    configured = os.environ.get("MAILBEACON_TEST_SCREENSHOTS")
    directory = Path(configured) if configured else fallback
    directory.mkdir(parents=True, exist_ok=True)
    return directory


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A PNG of the page (the viewport), checked to be a real image."""
    path = screenshot_dir(directory) / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


async def make_email(user_id: int, subject: str, **fields: Any) -> SentEmail:
    """A sent email stored directly (the Mail tab's filters and paging need many)."""
    to = fields.pop("to", ["ada@example.org"])
    minutes_ago = fields.pop("minutes_ago", 60)
    sent = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    email = await SentEmail.create(
        user_id=user_id,
        subject=subject,
        to_addresses=to,
        search_text=" ".join([subject, *to]).lower(),
        status=EmailStatus.SENT,
        sent_at=sent,
        **fields,
    )
    # created_at is auto_now_add: set it afterwards so that the order is the intended one.
    await SentEmail.filter(id=email.id).update(created_at=sent)
    return email
