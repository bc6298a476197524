"""The console end to end in headless chromium: sign in, compose and send to a real SMTP
server, the recipient opens and clicks (another client fetching the delivered mail's
pixel and link), and the bell and the row's icons change without a reload."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import expect

from plugin.sending.models import EmailCopy
from tests.browser import BrowserPage
from tests.conftest import UserFactory
from tests.console.helpers import (
    DESKTOP,
    LIVE_TIMEOUT_MS,
    PHONE,
    mail_row,
    make_email,
    screenshot,
    sign_in,
    tracking_requests,
)
from tests.live.factories import wait_for_subscribers
from tests.sending.helpers import mail_from, parse, parts
from tests.tracking.tracked_mail import THUNDERBIRD_UA


async def _earlier_mail(user_id: int) -> None:
    """Some earlier correspondence, so that the list looks like a salesperson's."""
    now = datetime.now(UTC)
    await make_email(user_id, "Welcome to the pilot", to=["lee@example.org"], track_opens=True,
                     track_links=True, open_count=2, first_opened_at=now - timedelta(days=1),
                     last_opened_at=now - timedelta(hours=20), click_count=1,
                     last_clicked_at=now - timedelta(hours=20), minutes_ago=1500)
    await make_email(user_id, "Contract draft v2", to=["legal@example.net"], minutes_ago=300)
    await make_email(user_id, "Pricing follow-up", to=["kim@example.com", "ops@example.com"],
                     track_opens=True, track_links=True, open_count=3,
                     first_opened_at=now - timedelta(minutes=80),
                     last_opened_at=now - timedelta(minutes=30), minutes_ago=90)


def _tracking_urls(html: str, public_url: str) -> tuple[str, list[str]]:
    urls = [unescape(u) for u in re.findall(r'(?:src|href)="([^"]+)"', html)]
    pixel = next(u for u in urls if u.startswith(f"{public_url}/t/o/"))
    return pixel, [u for u in urls if u.startswith(f"{public_url}/t/c/")]


async def test_send_then_watch_the_open_and_the_click_arrive_live(
    page: BrowserPage,
    server: str,
    settings: Any,
    make_user: UserFactory,
    smtp_server: Any,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    browser = page.page
    await browser.set_viewport_size(DESKTOP)
    seen_tracking = tracking_requests(browser)
    user = await make_user(name="Sam Seller")
    await _earlier_mail(user.id)
    await sign_in(browser, server, user)
    assert user.token not in browser.url
    # The console subscribes to trackingEvents and notifications over graphql-transport-ws.
    await wait_for_subscribers(user.id, count=2)

    await browser.get_by_role("button", name="Compose").click()
    await browser.get_by_label("To", exact=True).fill("prospect@example.com")
    await browser.get_by_label("Subject", exact=True).fill("Proposal for the Q1 rollout")
    await browser.get_by_label("Message", exact=True).fill(
        "Hi Pat,\n\nthe proposal is at https://example.com/proposal.\n\nBest regards,\nSam"
    )
    # Preset from the user's defaults (on for a new user).
    await expect(browser.get_by_label("Track opens")).to_be_checked()
    await expect(browser.get_by_label("Track links")).to_be_checked()
    await expect(browser.get_by_label("Separate copy per recipient")).not_to_be_checked()
    await browser.get_by_role("button", name="Send").click()
    dialog = browser.get_by_role("dialog")
    await expect(dialog.get_by_text("is on its way. Opens tracked, links tracked.")).to_be_visible()
    await dialog.get_by_role("button", name="Close").click()

    # On top of the list at once, without a reload; faint icons with their words.
    row = mail_row(browser, "Proposal for the Q1 rollout")
    await expect(row).to_be_visible()
    await expect(browser.get_by_role("listitem").first).to_contain_text("Proposal for the Q1")
    await expect(row).to_contain_text("prospect@example.com")
    opened_icon = row.get_by_role("img", name=re.compile(r"^(Not opened yet|Opened )"))
    clicked_icon = row.get_by_role("img", name=re.compile(r"^(Not clicked yet|Clicked )"))
    await expect(opened_icon).to_have_accessible_name("Not opened yet")
    await expect(opened_icon).to_have_attribute("title", "Not opened yet")
    await expect(opened_icon).not_to_have_class(re.compile(r"\bis-on\b"))
    await expect(clicked_icon).to_have_accessible_name("Not clicked yet")
    bell = browser.get_by_role("button", name=re.compile(r"^Notifications"))
    await expect(bell).to_have_accessible_name("Notifications, 0 unread")

    # The mail reached the SMTP server; the prospect opens it in Thunderbird.
    [envelope] = await mail_from(smtp_server, user.email)
    _, html = parts(parse(envelope))
    pixel, links = _tracking_urls(html, settings.public_url)
    assert links, "the message's web address became a tracked link"
    # First Apple Mail Privacy Protection fetches the pixel on delivery: shown, not counted.
    prefetch = await http.get(urlsplit(pixel).path, headers={"User-Agent": "Mozilla/5.0"})
    assert prefetch.status_code == 200
    opened = await http.get(urlsplit(pixel).path, headers={"User-Agent": THUNDERBIRD_UA})
    assert opened.status_code == 200

    await expect(bell).to_have_accessible_name(
        "Notifications, 1 unread", timeout=LIVE_TIMEOUT_MS
    )
    await expect(opened_icon).to_have_accessible_name(
        re.compile(r"^Opened 1 time, last "), timeout=LIVE_TIMEOUT_MS
    )
    await expect(opened_icon).to_have_class(re.compile(r"\bis-on\b"))
    await expect(opened_icon).to_have_attribute("title", re.compile(r"^Opened 1 time, last "))

    # Later (past the scanner window) the prospect clicks the link.
    copy = await EmailCopy.get(email__user_id=user.id)
    await EmailCopy.filter(id=copy.id).update(accepted_at=copy.accepted_at - timedelta(minutes=5))
    clicked = await http.get(urlsplit(links[0]).path, headers={"User-Agent": THUNDERBIRD_UA})
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://example.com/proposal"
    await expect(clicked_icon).to_have_accessible_name(
        re.compile(r"^Clicked 1 time, last "), timeout=LIVE_TIMEOUT_MS
    )
    await expect(bell).to_have_accessible_name(
        "Notifications, 2 unread", timeout=LIVE_TIMEOUT_MS
    )
    await screenshot(browser, tmp_path, "console-mail")

    # The bell lists both; the screenshot shows it open.
    await bell.click()
    panel = browser.locator("#bell-panel")
    await expect(panel.get_by_role("listitem")).to_have_count(2)
    await expect(panel).to_contain_text("“Proposal for the Q1 rollout” was opened")
    await expect(panel).to_contain_text("a link was clicked (https://example.com/proposal)")
    await screenshot(browser, tmp_path, "console-bell")
    await browser.get_by_role("button", name="Mark all as read").click()
    await expect(bell).to_have_accessible_name("Notifications, 0 unread")
    await browser.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await browser.keyboard.press("Escape")
    await expect(panel).to_be_hidden()

    # The email's detail: figures, the link with its click, the timeline in words.
    await row.get_by_role("link", name="Proposal for the Q1 rollout").click()
    detail = browser.locator("#detail-body")
    await expect(
        detail.get_by_role("heading", name="Proposal for the Q1 rollout", exact=True)
    ).to_be_visible()
    link_row = detail.get_by_role("row").filter(has_text="https://example.com/proposal")
    await expect(link_row.get_by_role("cell").nth(1)).to_have_text("1")
    person = detail.get_by_role("listitem").filter(has_text="Opened in Thunderbird")
    await expect(person).to_contain_text("Person")
    clicker = detail.get_by_role("listitem").filter(has_text="Clicked in Thunderbird")
    await expect(clicker).to_contain_text("Person")
    machine = detail.get_by_role("listitem").filter(
        has_text="Prefetched by Apple Mail Privacy Protection: not counted"
    )
    await expect(machine).to_contain_text("Machine")
    await screenshot(browser, tmp_path, "console-email")

    # A phone-width view of the same email and of the Mail tab.
    await browser.set_viewport_size(PHONE)
    await expect(person).to_be_visible()
    await screenshot(browser, tmp_path, "console-email-phone")
    await browser.get_by_role("link", name="Mail", exact=True).click()
    await expect(browser.get_by_label("Tracked emails")).to_be_visible()
    await screenshot(browser, tmp_path, "console-phone")

    # The sender's own console never fetched the pixel nor followed a tracked link.
    assert seen_tracking == []
    page.assert_clean()


async def test_compose_shows_consent_and_explains_the_tracking_decision(
    page: BrowserPage, server: str, make_user: UserFactory, tmp_path: Path
) -> None:
    browser = page.page
    await browser.set_viewport_size(DESKTOP)
    user = await make_user(name="Sam Seller")
    await sign_in(browser, server, user)
    await browser.get_by_role("button", name="Compose").click()
    await browser.get_by_label("To", exact=True).fill("anna@example.de, bob@example.com")
    await browser.get_by_label("Subject", exact=True).fill("Our meeting on Tuesday")
    await browser.get_by_label("Message", exact=True).fill("Hi Anna, hi Bob,\n\nsee you then.")
    consent = browser.locator("#compose-consent")
    anna = consent.get_by_role("listitem").filter(has_text="anna@example.de")
    await expect(anna).to_contain_text("consent needed (EU), no consent recorded: not tracked")
    bob = consent.get_by_role("listitem").filter(has_text="bob@example.com")
    await expect(bob).to_contain_text("no consent needed")
    shared = consent.get_by_text("One message to several recipients is tracked only if")
    await expect(shared).to_be_visible()
    await screenshot(browser, tmp_path, "console-compose")

    await anna.get_by_role("button", name="Request consent").click()
    await expect(anna).to_contain_text("Consent request sent to anna@example.de.")

    await browser.get_by_role("button", name="Send").click()
    result = browser.get_by_role("dialog").locator("#compose-result")
    await expect(result).to_contain_text("Opens not tracked, links not tracked.")
    await expect(result).to_contain_text("Tracking is switched off for anna@example.de")
    page.assert_clean()
