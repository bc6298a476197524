"""The "Stop tracking" footer that the sending pipeline adds to tracked copies."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from consent.footer import stop_tracking_footer, with_footer
from consent.signing import LinkKind, keys_for
from tests.consent.factories import unique_address


def _claim(settings: Any, html: str) -> Any:
    token = html.split(f'href="{settings.public_url}/consent/')[1].split('"')[0]
    return keys_for(settings).verify_link(token)


async def test_footer_only_for_opt_in_and_opt_out_recipients(server: str, settings: Any) -> None:
    eu, com = unique_address("firma.de"), unique_address("x.com")
    assert await stop_tracking_footer(com, settings) is None
    footer = await stop_tracking_footer(eu, settings)
    assert footer is not None
    html, text = footer
    assert "data-mb-no-track" in html and ">Stop tracking</a>" in html
    assert html.count(f'href="{settings.public_url}/consent/') == 1
    assert text.startswith(f"Stop tracking: {settings.public_url}/consent/")
    claim = _claim(settings, html)
    assert (claim.kind, claim.subject) == (LinkKind.PERSONAL, eu)
    nobody = [com, unique_address("y.com")]
    assert await stop_tracking_footer(nobody, settings, message="ab") is None


async def test_a_shared_copy_carries_one_message_link_naming_no_recipient(
    server: str, settings: Any
) -> None:
    eu, ch, com = unique_address("firma.de"), unique_address("bank.ch"), unique_address("x.com")
    public_id = secrets.token_hex(12)
    shared = await stop_tracking_footer([eu, ch, com], settings, message=public_id)
    assert shared is not None
    html, text = shared
    assert html.count("/consent/") == 1 and ">Stop tracking this message</a>" in html
    assert eu not in html and ch not in html and eu not in text
    claim = _claim(settings, html)
    assert (claim.kind, claim.subject) == (LinkKind.MESSAGE, public_id)
    with pytest.raises(ValueError, match="public id"):
        await stop_tracking_footer([eu, ch], settings)
    # The same address twice is still one recipient alone: a personal link.
    alone = await stop_tracking_footer([eu, eu.upper()], settings, message=public_id)
    assert alone is not None and _claim(settings, alone[0]).kind is LinkKind.PERSONAL


async def test_append_goes_before_body_end(server: str, settings: Any) -> None:
    eu = unique_address("firma.de")
    html, text = with_footer(
        "<html><BODY><p>Hi</p></BODY></html>", "Hi", await stop_tracking_footer(eu, settings)
    )
    assert html is not None and text is not None
    assert html.index("Stop tracking") < html.index("</BODY>")
    assert text.startswith("Hi\n\n-- \nStop tracking: ")
    unchanged = with_footer(
        "<p>x</p>", None, await stop_tracking_footer(unique_address("x.com"), settings)
    )
    assert unchanged == ("<p>x</p>", None)


async def test_the_footer_is_not_hidden_by_the_end_of_the_html(server: str, settings: Any) -> None:
    footer = await stop_tracking_footer(unique_address("firma.de"), settings)
    for html in (
        "<body><p>Hi</p><!-- </body> -->",
        '<body><p title="</body>">Hi</p>',
        "<body><p>Hi</p><!-- unterminated </body></html>",
    ):
        out, _ = with_footer(html, "Hi", footer)
        assert out is not None
        at = out.index("Stop tracking")
        # Never inside the comment (nor the attribute): before it, or after the whole input.
        assert ("<!--" in out and at < out.index("<!--")) or out.startswith(html), out
