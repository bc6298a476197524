"""The Mail tab's filters and paging, preferences that persist, signing in and out, and
API errors shown in words, in headless chromium."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import expect

from tests.browser import BrowserPage
from tests.conftest import GraphQL, UserFactory
from tests.console.helpers import DESKTOP, PHONE, mail_row, make_email, screenshot, sign_in

PREFERENCES = """{ trackingPreferences {
    openTrackingEnabled linkTrackingEnabled notificationsEnabled } }"""


async def test_filters_search_and_paging(
    page: BrowserPage, server: str, make_user: UserFactory
) -> None:
    browser = page.page
    await browser.set_viewport_size(DESKTOP)
    user = await make_user()
    now = datetime.now(UTC)
    await make_email(user.id, "Pricing follow-up", track_opens=True, track_links=True,
                     open_count=3, first_opened_at=now, last_opened_at=now, minutes_ago=5)
    await make_email(user.id, "Contract draft", minutes_ago=6)
    await make_email(user.id, "Pilot welcome", track_opens=True, track_links=True,
                     open_count=1, last_opened_at=now, click_count=1, last_clicked_at=now,
                     minutes_ago=7)
    for number in range(27):
        await make_email(user.id, f"Newsletter {number:02d}", track_opens=True,
                         minutes_ago=60 + number)
    await make_email(user.id, "Last week's offer", minutes_ago=7 * 24 * 60)
    await sign_in(browser, server, user)

    rows = browser.locator("#mail-rows").get_by_role("listitem")
    total = browser.locator("#mail-total")
    await expect(rows).to_have_count(25)
    await expect(total).to_have_text("31 emails")
    await expect(rows.first).to_contain_text("Pricing follow-up")  # newest first
    await browser.get_by_role("button", name="Load more").click()
    await expect(rows).to_have_count(31)
    await expect(rows.last).to_contain_text("Last week's offer")
    await expect(rows.nth(29)).to_contain_text("Newsletter 26")
    await expect(browser.get_by_role("button", name="Load more")).to_be_hidden()

    # Whole days of the browser's calendar.
    await browser.get_by_label("Sent from").fill(await _day(browser, days_ago=2))
    await expect(total).to_have_text("30 emails")
    await browser.get_by_label("Sent from").fill("")
    await browser.get_by_label("Sent until").fill(await _day(browser, days_ago=5))
    await expect(total).to_have_text("1 email")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Last week's offer")
    await browser.get_by_label("Sent until").fill("")
    await expect(total).to_have_text("31 emails")
    untracked = mail_row(browser, "Contract draft")
    await expect(untracked).to_contain_text("Not tracked")
    pricing_opens = mail_row(browser, "Pricing follow-up").get_by_role("img").first
    await expect(pricing_opens).to_have_accessible_name(
        f"Opened 3 times, last {await _formatted(browser, now)}"
    )

    await browser.get_by_label("Tracked emails").check()
    await expect(total).to_have_text("29 emails")
    await expect(untracked).to_have_count(0)
    await browser.get_by_label("Opened", exact=True).select_option(label="Opened")
    await expect(rows).to_have_count(2)
    await browser.get_by_label("Clicked", exact=True).select_option(label="Clicked")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Pilot welcome")
    await browser.get_by_label("Clicked", exact=True).select_option(label="Not clicked")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Pricing follow-up")

    await browser.get_by_label("Opened", exact=True).select_option(label="Any")
    await browser.get_by_label("Clicked", exact=True).select_option(label="Any")
    await browser.get_by_label("Tracked emails").uncheck()
    await browser.get_by_role("searchbox", name="Search").fill("contract")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Contract draft")
    await browser.get_by_role("searchbox", name="Search").fill("no such email")
    await expect(browser.get_by_text("No sent emails match.")).to_be_visible()

    # At phone width the tracked filter is still there.
    await browser.set_viewport_size(PHONE)
    await expect(browser.get_by_label("Tracked emails")).to_be_visible()
    page.assert_clean()


async def _day(browser: object, *, days_ago: int) -> str:
    """YYYY-MM-DD of a day in the browser's calendar (what a date field holds)."""
    return str(await browser.evaluate(  # type: ignore[attr-defined]
        """(daysAgo) => { const d = new Date(); d.setDate(d.getDate() - daysAgo);
           const pad = (n) => String(n).padStart(2, "0");
           return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`; }""",
        days_ago,
    ))


async def _formatted(browser: object, moment: datetime) -> str:
    """The time as the console writes it (the browser's locale and time zone)."""
    return str(await browser.evaluate(  # type: ignore[attr-defined]
        "(iso) => new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'})"
        ".format(new Date(iso))",
        moment.isoformat(),
    ))


async def test_preferences_are_saved_when_toggled_and_persist(
    page: BrowserPage, server: str, make_user: UserFactory, gql: GraphQL, tmp_path: Path
) -> None:
    browser = page.page
    await browser.set_viewport_size(DESKTOP)
    user = await make_user()
    await sign_in(browser, server, user)
    await browser.get_by_role("navigation").get_by_role("link", name="Preferences").click()
    await expect(browser.get_by_role("heading", name="Email sync")).to_be_visible()
    opens = browser.get_by_role("switch", name="Open tracking")
    notify = browser.get_by_role("switch", name="Notifications for tracking activity")
    await expect(opens).to_be_checked()
    await expect(browser.get_by_role("switch", name="Link tracking")).to_be_checked()
    await expect(notify).to_be_checked()
    await screenshot(browser, tmp_path, "console-preferences")

    await opens.click()
    await expect(browser.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await notify.click()
    await expect(notify).not_to_be_checked()
    await expect(browser.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    stored = (await gql(PREFERENCES, user=user))["data"]["trackingPreferences"]
    assert stored == {
        "openTrackingEnabled": False,
        "linkTrackingEnabled": True,
        "notificationsEnabled": False,
    }

    # A reload keeps the session (the tab's storage) and shows what is stored.
    await browser.reload()
    await expect(browser.get_by_role("heading", name="Email sync")).to_be_visible()
    await expect(opens).not_to_be_checked()
    await expect(notify).not_to_be_checked()
    await expect(browser.get_by_role("switch", name="Link tracking")).to_be_checked()

    # Compose follows: open tracking is off and cannot be asked for.
    await browser.get_by_role("button", name="Compose").click()
    await expect(browser.get_by_label("Track opens")).not_to_be_checked()
    await expect(browser.get_by_label("Track opens")).to_be_disabled()
    await expect(browser.get_by_label("Track links")).to_be_checked()
    page.assert_clean()


async def test_sign_in_keeps_the_token_out_of_urls_and_sign_out_forgets_it(
    page: BrowserPage, server: str, make_user: UserFactory
) -> None:
    browser = page.page
    user = await make_user()
    await browser.goto(f"{server}/console")
    await browser.get_by_label("API token").fill("mb_not-a-real-token")
    await browser.get_by_role("button", name="Sign in").click()
    await expect(browser.get_by_role("alert")).to_have_text(
        "That API token was not accepted. Check it and try again."
    )
    page.console_errors.clear()  # chromium logs the 401 answer itself

    await browser.get_by_label("API token").fill(user.token)
    await browser.get_by_role("button", name="Sign in").click()
    await expect(browser.get_by_role("heading", name="Mail", exact=True)).to_be_visible()
    assert user.token not in browser.url
    assert await browser.evaluate("sessionStorage.getItem('mailbeacon.apiToken')") == user.token
    assert await browser.evaluate("localStorage.length") == 0
    assert await browser.evaluate("document.cookie") == ""

    await browser.get_by_role("button", name="Sign out").click()
    await expect(browser.get_by_label("API token")).to_be_visible()
    assert await browser.evaluate("sessionStorage.length") == 0
    await browser.reload()
    await expect(browser.get_by_label("API token")).to_be_visible()
    await expect(browser.get_by_role("heading", name="Mail", exact=True)).to_have_count(0)
    page.assert_clean()


async def test_api_errors_are_shown_in_words(
    page: BrowserPage, server: str, make_user: UserFactory
) -> None:
    browser = page.page
    user = await make_user()
    await sign_in(browser, server, user)
    await browser.get_by_role("button", name="Compose").click()
    await browser.get_by_label("To", exact=True).fill("not-an-address")
    await browser.get_by_label("Subject", exact=True).fill("Hello")
    await browser.get_by_label("Message", exact=True).fill("Hi")
    await browser.get_by_role("button", name="Send").click()
    error = browser.get_by_role("dialog").locator("#compose-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("not-an-address")
    await expect(browser.locator("#mail-rows").get_by_role("listitem")).to_have_count(0)
    page.assert_clean()


async def test_the_console_works_from_the_keyboard(
    page: BrowserPage, server: str, make_user: UserFactory
) -> None:
    browser = page.page
    user = await make_user()
    await make_email(user.id, "Quarterly review", track_opens=True)
    await browser.goto(f"{server}/console")
    await expect(browser.get_by_label("API token")).to_be_focused()
    await browser.keyboard.type(user.token)
    await browser.keyboard.press("Enter")
    await expect(browser.get_by_role("heading", name="Mail", exact=True)).to_be_visible()

    compose = browser.get_by_role("button", name="Compose")
    await compose.focus()
    await browser.keyboard.press("Enter")
    await expect(browser.get_by_label("To", exact=True)).to_be_focused()
    await browser.keyboard.press("Escape")
    await expect(browser.get_by_role("dialog")).to_be_hidden()

    bell = browser.get_by_role("button", name="Notifications, 0 unread")
    await bell.focus()
    await browser.keyboard.press("Enter")
    await expect(bell).to_have_attribute("aria-expanded", "true")
    await expect(browser.get_by_text("No notifications yet.")).to_be_visible()
    await browser.keyboard.press("Escape")
    await expect(bell).to_have_attribute("aria-expanded", "false")
    await expect(bell).to_be_focused()

    await mail_row(browser, "Quarterly review").get_by_role("link").focus()
    await browser.keyboard.press("Enter")
    await expect(browser.get_by_role("heading", name="Quarterly review")).to_be_focused()
    page.assert_clean()
