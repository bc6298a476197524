"""The "Stop tracking" footer that the sending pipeline adds to tracked copies."""

from __future__ import annotations

from typing import Any

from consent.footer import append_stop_tracking_footer, stop_tracking_footer
from tests.consent.factories import unique_address


async def test_footer_only_for_opt_in_and_opt_out_recipients(server: str, settings: Any) -> None:
    eu, ch, com = unique_address("firma.de"), unique_address("bank.ch"), unique_address("x.com")
    assert await stop_tracking_footer(com, settings) is None
    footer = await stop_tracking_footer(eu, settings)
    assert footer is not None
    html, text = footer
    assert "data-mb-no-track" in html and ">Stop tracking</a>" in html
    assert html.count(f'href="{settings.public_url}/consent/') == 1
    assert text.startswith(f"Stop tracking: {settings.public_url}/consent/")
    shared = await stop_tracking_footer([eu, ch, com], settings)
    assert shared is not None
    assert shared[0].count("/consent/") == 2 and f"({eu})" in shared[0] and com not in shared[0]


async def test_append_goes_before_body_end(server: str, settings: Any) -> None:
    eu = unique_address("firma.de")
    html, text = await append_stop_tracking_footer(
        "<html><BODY><p>Hi</p></BODY></html>", "Hi", [eu], settings
    )
    assert html is not None and text is not None
    assert html.index("Stop tracking") < html.index("</BODY>")
    assert text.startswith("Hi\n\n-- \nStop tracking: ")
    unchanged = await append_stop_tracking_footer(
        "<p>x</p>", None, [unique_address("x.com")], settings
    )
    assert unchanged == ("<p>x</p>", None)


async def test_the_footer_is_not_hidden_by_the_end_of_the_html(server: str, settings: Any) -> None:
    eu = unique_address("firma.de")
    for html in (
        "<body><p>Hi</p><!-- </body> -->",
        '<body><p title="</body>">Hi</p>',
        "<body><p>Hi</p><!-- unterminated </body></html>",
    ):
        out, _ = await append_stop_tracking_footer(html, "Hi", [eu], settings)
        assert out is not None
        at = out.index("Stop tracking")
        # Never inside the comment (nor the attribute): before it, or after the whole input.
        assert ("<!--" in out and at < out.index("<!--")) or out.startswith(html), out
