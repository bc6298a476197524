"""The pixel and the "Stop tracking" footer land where a mail client renders them.

The reference is html5lib, an implementation of the WHATWG parsing algorithm that
browsers and webmail sanitizers follow: after instrumentation, the pixel must be an
``<img>`` element and the footer an ``<a>`` element of the parsed document, whatever
the end of the HTML looks like, and every other byte must be the input's.
"""

from __future__ import annotations

from pathlib import Path

import html5lib
import pytest

from plugin.tracking.instrument.html_body import (
    HtmlInstrumentOptions,
    insert_visible,
    instrument_html,
    pixel_markup,
    visible_insertion_point,
)
from plugin.tracking.instrument.html_scanner import open_tail_start
from tests.corpus import HTML_EMAILS
from tests.tracking.test_instrument_html import PIXEL, Recorder

FOOTER = '<p><a href="https://trk.test/consent/STOP" data-mb-no-track>Stop tracking</a></p>'
PIXEL_ONLY = HtmlInstrumentOptions(track_opens=True, track_links=False)
XHTML = "{http://www.w3.org/1999/xhtml}"

# Each shape once at the bottom of a document with a real body, and as a fragment.
HOSTILE_ENDINGS = {
    "commented-body-close": "<p>Hi</p><!-- </body> -->",
    "commented-body-close-after-real": "<p>Hi</p></body></html><!-- </body> -->",
    "body-close-in-attribute": '<p title="</body>">Hi</p><div data-x=\'</body>\'></div>',
    "body-close-in-unterminated-attribute": '<p>Hi</p><div title="</body></html>',
    "unterminated-comment": "<p>Hi</p><!-- signature",
    "unterminated-comment-hiding-body-close": "<p>Hi</p><!-- old </body></html>",
    "unterminated-conditional-comment": "<p>Hi</p><!--[if mso]><table></body>",
    "body-close-in-outlook-only-comment": "<p>Hi</p><!--[if mso]></body><![endif]-->",
    "unterminated-tag": "<p>Hi</p><div class=x",
    "unterminated-style": "<p>Hi</p><style>p { color: red } </body>",
    "unterminated-textarea": "<p>Hi</p><textarea>notes</body>",
    "unterminated-title": "<p>Hi</p><title>x",
    "plaintext": "<p>Hi</p><plaintext></body>",
    "body-close-in-script": "<p>Hi</p><script>var s = '</body>';</script>",
    "no-body-close": "<p>Hi</p>",
    "unterminated-bogus-comment": "<p>Hi</p><!DOCTYPE x",
    "lone-less-than": "<p>1 < 2</p>",
    "empty": "",
}
PREFIXES = {"document": "<!DOCTYPE html><html><head></head><body>", "fragment": ""}
CASES = [
    pytest.param(prefix + ending, id=f"{kind}-{name}")
    for kind, prefix in PREFIXES.items()
    for name, ending in HOSTILE_ENDINGS.items()
]


def rendered(html: str) -> tuple[list[str], list[str]]:
    """The ``src`` of every ``<img>`` and ``href`` of every ``<a>`` a browser builds."""
    tree = html5lib.parse(html)
    images = [el.get("src", "") for el in tree.iter(f"{XHTML}img")]
    anchors = [el.get("href", "") for el in tree.iter(f"{XHTML}a")]
    return images, anchors


def instrument_and_footer(html: str, *, top: bool = False) -> str:
    options = HtmlInstrumentOptions(True, False, pixel_position="top" if top else "bottom")
    return insert_visible(instrument_html(html, Recorder(), options), FOOTER)


def without_insertions(output: str) -> str:
    return output.replace(pixel_markup(PIXEL), "").replace(FOOTER, "")


@pytest.mark.parametrize("html", CASES)
def test_pixel_and_footer_are_rendered_whatever_the_end_looks_like(html: str) -> None:
    output = instrument_and_footer(html)
    images, anchors = rendered(output)
    assert PIXEL in images, output
    assert "https://trk.test/consent/STOP" in anchors, output
    assert without_insertions(output) == html


@pytest.mark.parametrize("html", CASES)
def test_top_position_is_rendered_too(html: str) -> None:
    output = instrument_and_footer(html, top=True)
    assert PIXEL in rendered(output)[0], output
    assert without_insertions(output) == html


def test_the_real_body_close_is_kept_as_the_anchor() -> None:
    html = "<html><body><p>Hi</p><!-- </body> --></body><!-- </body> --></html>"
    at = visible_insertion_point(html)
    assert html[at:].startswith("</body><!-- </body> --></html>")


def test_an_unterminated_comment_moves_the_insertion_before_it() -> None:
    html = "<body><p>Hi</p><!-- </body></html>"
    assert visible_insertion_point(html) == html.index("<!--")
    assert open_tail_start(html) == html.index("<!--")


def test_a_closed_document_has_no_open_tail() -> None:
    html = '<body><p title="a > b">x</p><!-- c --><script>"</script>"</script></body>'
    assert open_tail_start(html) == len(html)


@pytest.mark.parametrize("path", HTML_EMAILS, ids=[p.name for p in HTML_EMAILS])
def test_corpus_pixel_and_footer_are_rendered_and_bytes_preserved(path: Path) -> None:
    original = path.read_text(encoding="utf-8")
    output = insert_visible(instrument_html(original, Recorder(), PIXEL_ONLY), FOOTER)
    assert output.count(pixel_markup(PIXEL)) == 1 and output.count(FOOTER) == 1
    assert without_insertions(output) == original
    images, anchors = rendered(output)
    assert PIXEL in images
    assert "https://trk.test/consent/STOP" in anchors
