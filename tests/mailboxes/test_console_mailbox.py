"""Preferences > Email sync > Mailbox in headless chromium: connect, a refusal, disconnect."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser import BrowserPage
from tests.conftest import GraphQL, UserFactory
from tests.console.helpers import DESKTOP, sign_in
from tests.mailboxes.test_connect import MAILBOX, imap_url, smtp_url


async def test_the_console_connects_and_disconnects_the_mailbox(
    page: BrowserPage, server: str, make_user: UserFactory, gql: GraphQL, dovecot: Any,
    auth_smtp: Any,
) -> None:
    browser = page.page
    await browser.set_viewport_size(DESKTOP)
    user = await make_user()
    await sign_in(browser, server, user)
    await browser.get_by_role("navigation").get_by_role("link", name="Preferences").click()
    await expect(browser.get_by_role("heading", name="Mailbox")).to_be_visible()
    connect = browser.get_by_role("button", name="Connect")

    # A wrong password: the code and message are shown, nothing is stored.
    await browser.get_by_label("SMTP server").fill(smtp_url(auth_smtp.port, password="nope"))
    await connect.click()
    await expect(browser.get_by_role("status").filter(has_text="MAILBOX_AUTH_FAILED")) \
        .to_be_visible()
    assert (await gql(MAILBOX, user=user))["data"]["mailbox"] is None

    await browser.get_by_label("SMTP server").fill(smtp_url(auth_smtp.port))
    await browser.get_by_label("IMAP server (for the Sent copy)").fill(imap_url(dovecot.port))
    await connect.click()
    await expect(browser.get_by_role("status").filter(has_text="Connected.")).to_be_visible()
    await expect(browser.locator("#mailbox-address")).to_have_text(user.email)
    await expect(browser.locator("#mailbox-sent")).to_have_text("Sent")
    stored = (await gql(MAILBOX, user=user))["data"]["mailbox"]
    assert stored["smtpHost"] == f"127.0.0.1:{auth_smtp.port}"

    # A reload shows what is stored; the page never holds the password again.
    await browser.reload()
    await expect(browser.locator("#mailbox-smtp")).to_have_text(f"127.0.0.1:{auth_smtp.port}")
    assert "ann-secret" not in await browser.content()

    await browser.get_by_role("button", name="Disconnect").click()
    await expect(browser.get_by_role("status").filter(has_text="Disconnected")).to_be_visible()
    assert (await gql(MAILBOX, user=user))["data"]["mailbox"] is None
    await expect(connect).to_be_visible()
    page.assert_clean()
