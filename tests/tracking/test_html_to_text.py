"""Unit tests for plugin.tracking.instrument.html_to_text (no database)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from plugin.tracking.instrument.html_to_text import html_to_text
from tests.corpus import CORPUS_DIR

CORPUS = CORPUS_DIR / "html-email"
SAMPLES = [
    "001-cerberus-cerberus-hybrid.html",
    "006-postmark-basic-welcome.html",
    "013-sendgrid-dynamic-special-sale.html",
    "021-colorlib-template-01.html",
    "038-sendwithus-neopolitan-progress.html",
    "050-caniemail-html-mailto-links.html",
    "058-talon-reply-gmail.html",
]


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.hidden: list[str] = []  # text of <style>/<script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        href = (found.get("href") or "").strip()
        style = found.get("style") or ""
        if (
            tag == "a"
            and re.match(r"https?://", href)
            and "display:none" not in style.replace(" ", "")
        ):
            self.hrefs.append(href)


@pytest.mark.parametrize("name", SAMPLES)
def test_corpus_text_is_clean_and_keeps_links(name: str) -> None:
    html = (CORPUS / name).read_text(encoding="utf-8")
    text = html_to_text(html)
    assert text.strip()
    for block in re.findall(r"<(style|script)[^>]*>(.*?)</\1>", html, re.S | re.I):
        for line in block[1].splitlines():
            if len(line.strip()) > 15:
                assert line.strip() not in text
    assert "{" not in text or "{{" in html  # no CSS rules leaked
    assert "<td" not in text and "&nbsp;" not in text and "&amp;" not in text
    parser = _Visible()
    parser.feed(html)
    for href in parser.hrefs:
        assert href in text, href
    assert "\n\n\n" not in text


def test_structure() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<div style='display:none'>preheader</div><h1>Hello&nbsp;there</h1>"
        "<p>One   two<br>three &amp; four</p><ul><li>a</li><li>b</li></ul>"
        "<ol><li>x</li><li>y</li></ol>"
        "<p><a href='https://a.example/x'>Click</a> <a href='https://b.example/'>https://b.example/</a>"
        "<a href='https://c.example/'><img alt='Logo' src='x.png'></a> <a href='#top'>top</a>"
        " <a href='mailto:hi@x.example'>mail us</a></p>"
        "<table><tr><td>Item</td><td>$1</td></tr><tr><td>Total</td><td>$2</td></tr></table>"
        "<script>alert(1)</script><!--[if mso]>outlook only<![endif]--></body></html>"
    )
    assert html_to_text(html) == (
        "Hello there\n\nOne two\nthree & four\n\n- a\n- b\n\n1. x\n2. y\n\n"
        "Click (https://a.example/x) https://b.example/Logo (https://c.example/) top "
        "mail us (hi@x.example)\n\nItem $1\nTotal $2\n"
    )


def test_garbage() -> None:
    for html in (
        "",
        "<",
        "<a href='https://x.example'>unclosed",
        "<style>",
        "\x00<p>x",
        "<p" * 1000,
    ):
        assert isinstance(html_to_text(html), str)
    assert "https://x.example" in html_to_text("<a href='https://x.example'>unclosed")
