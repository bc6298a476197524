"""Unit tests for plugin.tracking.instrument.html_body (no database)."""

from __future__ import annotations

import html as htmllib
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from plugin.tracking.edge.tokens import ClickToken, TokenSigner, TrackingUrls
from plugin.tracking.instrument.html_body import (
    HtmlInstrumentOptions,
    SimpleLinkRegistry,
    honeypot_markup,
    instrument_html,
    pixel_markup,
)
from tests.corpus import HTML_EMAILS

CORPUS = HTML_EMAILS
BOTH = HtmlInstrumentOptions(track_opens=True, track_links=True)
LINKS_ONLY = HtmlInstrumentOptions(track_opens=False, track_links=True, honeypot=False)
NOTHING = HtmlInstrumentOptions(track_opens=False, track_links=False)
PIXEL = "https://trk.test/o/PIXEL.gif"
HONEYPOT = "https://trk.test/h/HONEY"


class Recorder:
    """A LinkRegistry with recognisable URLs: https://trk.test/c/<n>."""

    def __init__(self) -> None:
        self.destinations: list[str] = []

    def open_url(self) -> str:
        return PIXEL

    def click_url(self, destination: str) -> str:
        if destination not in self.destinations:
            self.destinations.append(destination)
        return f"https://trk.test/c/{self.destinations.index(destination)}"

    def honeypot_url(self) -> str:
        return HONEYPOT

    def untrack(self, url: str) -> str | None:
        if url in (PIXEL, HONEYPOT):
            return ""
        found = re.fullmatch(r"https://trk\.test/c/(\d+)", url)
        return self.destinations[int(found.group(1))] if found else None


def run(html: str, options: HtmlInstrumentOptions = LINKS_ONLY) -> tuple[str, Recorder]:
    recorder = Recorder()
    return instrument_html(html, recorder, options), recorder


_MARKERS = re.compile(
    re.escape(pixel_markup(PIXEL))
    + "|"
    + re.escape(honeypot_markup(HONEYPOT))
    + r"|https://trk\.test/c/(\d+)"
)


def assert_only_expected_changes(original: str, output: str, recorder: Recorder) -> int:
    """Walk the output: all text between our markers must be the input, in order."""
    pos = 0
    prev = 0
    rewrites = 0
    for marker in _MARKERS.finditer(output):
        segment = output[prev : marker.start()]
        assert original.startswith(segment, pos), (pos, segment[-80:])
        pos += len(segment)
        prev = marker.end()
        if marker.group(1) is None:
            continue  # inserted pixel / honeypot: nothing in the input
        quote = output[marker.start() - 1]
        stop = re.compile(quote if quote in "\"'" else r"[\t\n\f\r >]")
        end = stop.search(original, pos)
        assert end is not None
        raw = original[pos : end.start()]
        assert (
            htmllib.unescape(raw).strip("\t\n\f\r ") == recorder.destinations[int(marker.group(1))]
        )
        pos = end.start()
        rewrites += 1
    assert original[pos:] == output[prev:]
    return rewrites


class _Links(HTMLParser):
    """Reference: every http(s) <a>/<area> href the stdlib parser sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag in ("a", "area") and href:
            href = href.strip("\t\n\f\r ")
            if re.match(r"https?://", href, re.I):
                self.hrefs.add(href)


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_every_other_byte_is_preserved(path: Path) -> None:
    original = path.read_text(encoding="utf-8")
    options = HtmlInstrumentOptions(True, True, skip_unsubscribe_links=False)
    output, recorder = run(original, options)
    rewrites = assert_only_expected_changes(original, output, recorder)
    assert output.count(pixel_markup(PIXEL)) == 1
    assert output.count(honeypot_markup(HONEYPOT)) == 1
    reference = _Links()
    reference.feed(original)
    # Every link a real parser sees is tracked; VML twins may add more.
    assert reference.hrefs <= set(recorder.destinations)
    assert rewrites >= len(reference.hrefs)
    # Re-instrumenting our own output undoes our tracking first.
    assert instrument_html(output, recorder, NOTHING) == original


def test_corpus_idempotent_with_real_registry() -> None:
    urls = TrackingUrls("https://t.example.com", TokenSigner(["s"]))
    for path in CORPUS:
        original = path.read_text(encoding="utf-8")
        once = instrument_html(original, SimpleLinkRegistry(urls, b"a" * 12), BOTH)
        twice = instrument_html(once, SimpleLinkRegistry(urls, b"a" * 12), BOTH)
        assert twice == once
        assert instrument_html(once, SimpleLinkRegistry(urls, b"b" * 12), NOTHING) == original


def test_pixel_bottom_before_last_body_close() -> None:
    html = "<html><BODY class=x><p>hi</p><!-- </body> --></Body >\n</html>"
    out, _ = run(html, HtmlInstrumentOptions(True, False))
    assert out == html.replace("</Body >", pixel_markup(PIXEL) + "</Body >")


def test_pixel_top_and_fragments() -> None:
    html = '<html><body style="a>b"><p>hi</p></body></html>'
    top = HtmlInstrumentOptions(True, False, pixel_position="top")
    out, _ = run(html, top)
    assert out == html.replace('b">', 'b">' + pixel_markup(PIXEL), 1)
    assert run("<p>hi</p>", top)[0] == pixel_markup(PIXEL) + "<p>hi</p>"
    assert run("<p>hi</p>", HtmlInstrumentOptions(True, False))[0] == "<p>hi</p>" + pixel_markup(
        PIXEL
    )


def test_honeypot_inserted_with_links_only() -> None:
    out, _ = run("<body><p>x</p></body>", BOTH)
    assert out == "<body><p>x</p>" + pixel_markup(PIXEL) + honeypot_markup(HONEYPOT) + "</body>"
    assert 'aria-hidden="true"' in honeypot_markup(HONEYPOT)
    out, _ = run("<body></body>", HtmlInstrumentOptions(False, True))
    assert out == "<body>" + honeypot_markup(HONEYPOT) + "</body>"
    assert run("<body></body>", HtmlInstrumentOptions(True, False))[0].count("<a") == 0


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<a href="https://a.example/">x</a>', '<a href="https://trk.test/c/0">x</a>'),
        ("<a href='https://a.example/'>x</a>", "<a href='https://trk.test/c/0'>x</a>"),
        ("<a href=https://a.example/>x</a>", "<a href=https://trk.test/c/0>x</a>"),
        ('<A HREF = "HTTP://a.example/">x</A>', '<A HREF = "https://trk.test/c/0">x</A>'),
        (
            '<a\nclass="b"\thref=\n"  https://a.example/ ">x</a>',
            '<a\nclass="b"\thref=\n"https://trk.test/c/0">x</a>',
        ),
        (
            '<area shape="rect" href="https://a.example/">',
            '<area shape="rect" href="https://trk.test/c/0">',
        ),
        (
            '<a title="<a href=\'https://no.example\'>" href="https://a.example/">x</a>',
            '<a title="<a href=\'https://no.example\'>" href="https://trk.test/c/0">x</a>',
        ),
        (
            "<div title=\"<a href='https://no.example'>\">",
            "<div title=\"<a href='https://no.example'>\">",
        ),
    ],
)
def test_links_rewritten_keeping_quote_style(markup: str, expected: str) -> None:
    assert run(markup)[0] == expected


@pytest.mark.parametrize(
    "href",
    [
        "mailto:a@b.example",
        "tel:+123",
        "sms:+123",
        "#top",
        "javascript:alert(1)",
        "data:text/html,x",
        "",
        "   ",
        "/relative",
        "page.html",
        "//cdn.example/x",
        "ftp://f.example/",
        "{{url}}",
    ],
)
def test_non_http_links_untouched(href: str) -> None:
    markup = f'<a href="{href}">x</a><a href>y</a>'
    out, recorder = run(markup)
    assert out == markup and recorder.destinations == []


def test_entities_decoded_and_non_ascii_kept_exactly() -> None:
    markup = (
        '<a href="https://a.example/?x=1&amp;y=2&#38;z=3&#x26;w=&eacute;">1</a>'
        '<a href="https://münchen.example/straße?q=日本">2</a>'
    )
    _, recorder = run(markup)
    assert recorder.destinations == [
        "https://a.example/?x=1&y=2&z=3&w=é",
        "https://münchen.example/straße?q=日本",
    ]


def test_written_values_are_escaped() -> None:
    class Amp(Recorder):
        def click_url(self, destination: str) -> str:
            return "https://trk.test/x?a=1&b='\""

    out = instrument_html(
        "<a href='https://a.example'>x</a><a href=https://b.example>y</a>", Amp(), LINKS_ONLY
    )
    assert out == (
        "<a href='https://trk.test/x?a=1&amp;b=&#39;\"'>x</a>"
        '<a href="https://trk.test/x?a=1&amp;b=\'&quot;">y</a>'
    )


def test_no_track_attribute_removed_and_link_untouched() -> None:
    markup = '<a href="https://a.example/" data-mb-no-track>x</a><a DATA-MB-NO-TRACK="1"  href=https://b.example>y</a>'
    out, recorder = run(markup)
    assert out == '<a href="https://a.example/">x</a><a  href=https://b.example>y</a>'
    assert recorder.destinations == []


@pytest.mark.parametrize(
    "markup",
    [
        '<a href="https://a.example/Unsubscribe?u=1">x</a>',
        '<a href="https://a.example/u">Unsubscribe</a>',
        '<a href="https://a.example/u"><span>Opt&nbsp;out</span></a>',
        '<a href="https://a.example/u">Hier abmelden</a>',
        '<a href="https://a.example/u">Se désinscrire</a>',
        '<a href="https://a.example/u">Disiscriviti</a>',
        '<area href="https://a.example/u" alt="Unsubscribe">',
    ],
)
def test_unsubscribe_links_left_alone(markup: str) -> None:
    assert run(markup)[0] == markup
    options = HtmlInstrumentOptions(False, True, skip_unsubscribe_links=False, honeypot=False)
    assert "trk.test/c/0" in run(markup, options)[0]


@pytest.mark.parametrize("options", [BOTH, LINKS_ONLY])
@pytest.mark.parametrize(
    "markup",
    [
        '<a href="https://a.example/u?x=1&amp;y=2">Unsubscribe',  # left open at the end
        '<body><p><a href="https://a.example/u">Unsubscribe</p></body>',
        '<a href="https://a.example/n">News<a href="https://a.example/u">Unsubscribe',
    ],
)
def test_an_unsubscribe_link_left_open_is_read_to_where_it_visibly_ends(
    markup: str, options: HtmlInstrumentOptions
) -> None:
    _, recorder = run(markup, options)
    assert "https://a.example/u" not in recorder.destinations
    # Instrumenting our own output again reads the same text: the pixel and honeypot we
    # add where it ends (the honeypot an <a> of its own) change nothing.
    urls = TrackingUrls("https://t.example", TokenSigner(["k" * 32]))
    registry = SimpleLinkRegistry(urls, b"c" * 12)
    once = instrument_html(markup, registry, options)
    assert instrument_html(once, registry, options) == once


def test_a_link_left_open_is_still_tracked_when_its_text_is_not_unsubscribe() -> None:
    _, recorder = run('<body><a href="https://a.example/n">News</body>unsubscribe')
    assert recorder.destinations == ["https://a.example/n"]


def test_outlook_conditional_comments() -> None:
    markup = (
        '<!--[if mso]><v:roundrect href="https://a.example/?a=1&amp;b=2" arcsize="10%">'
        "<center>Go</center></v:roundrect><![endif]-->"
        '<!--[if !mso]><!-- --><a href="https://a.example/?a=1&b=2">Go</a><!--<![endif]-->'
        '<!-- <a href="https://commented.example/">no</a> -->'
        '<!--[if !mso]><!--><a href="https://c.example/">c</a><!--<![endif]-->'
    )
    out, recorder = run(markup)
    assert recorder.destinations == ["https://a.example/?a=1&b=2", "https://c.example/"]
    assert out.count("https://trk.test/c/0") == 2
    assert out.startswith('<!--[if mso]><v:roundrect href="https://trk.test/c/0" arcsize="10%">')
    assert out.count("<![endif]-->") == 3 and "https://commented.example/" in out


def test_raw_text_elements_skipped() -> None:
    markup = (
        '<style>a[href="https://s.example"]{}</style><script>x="<a href=https://j.example>"</script>'
        '<textarea><a href="https://t.example">t</a></textarea><title><a href="https://x"></title>'
        '<a href="https://real.example">r</a>'
    )
    out, recorder = run(markup)
    assert recorder.destinations == ["https://real.example"]
    assert out == markup.replace("https://real.example", "https://trk.test/c/0")


def test_our_own_tracking_is_removed_even_when_not_tracking() -> None:
    urls = TrackingUrls("https://t.example.com/mb", TokenSigner(["new", "old"]))
    old_urls = TrackingUrls("https://t.example.com/mb", TokenSigner(["old"]))
    old = SimpleLinkRegistry(old_urls, b"o" * 12)
    quoted = instrument_html(
        '<body><p>earlier <a href="https://a.example/?x=1&amp;y=2">a</a></p></body>', old, BOTH
    )
    assert "t.example.com/mb/t/o/" in quoted and "t.example.com/mb/t/c/" in quoted
    reply = f"<div>my reply</div><blockquote>{quoted}</blockquote>"
    plain = instrument_html(reply, SimpleLinkRegistry(urls, b"n" * 12), NOTHING)
    assert plain == (
        '<div>my reply</div><blockquote><body><p>earlier <a href="https://a.example/?x=1&amp;y=2">'
        "a</a></p></body></blockquote>"
    )
    fresh = SimpleLinkRegistry(urls, b"n" * 12)
    tracked = instrument_html(reply, fresh, LINKS_ONLY)
    assert fresh.destinations == [(1, "https://a.example/?x=1&y=2")]
    token = urls.parse(re.search(r'href="([^"]+)"', tracked).group(1))  # type: ignore[union-attr]
    assert token == ClickToken(b"n" * 12, 1, "https://a.example/?x=1&y=2")
    assert "/t/o/" not in tracked and "display:none" not in tracked


def test_registry_shares_indexes_across_copies() -> None:
    urls = TrackingUrls("https://t.example.com", TokenSigner(["s"]))
    shared: dict[str, int] = {}
    html = '<a href="https://a.example">a</a><a href="https://b.example">b</a><a href="https://a.example">c</a>'
    first = SimpleLinkRegistry(urls, b"1" * 12, indexes=shared)
    instrument_html(html, first, LINKS_ONLY)
    second = SimpleLinkRegistry(urls, b"2" * 12, indexes=shared)
    instrument_html(
        '<a href="https://b.example">b</a><a href="https://c.example">c</a>', second, LINKS_ONLY
    )
    assert first.destinations == [(1, "https://a.example"), (2, "https://b.example")]
    assert second.destinations == [(2, "https://b.example"), (3, "https://c.example")]
    assert shared == {"https://a.example": 1, "https://b.example": 2, "https://c.example": 3}


@pytest.mark.parametrize(
    "markup",
    [
        '<a href="https://a.example',
        "<a href='https://a.example>x",
        "<!-- unterminated <a href=https://a.example>",
        "<script><a href=https://a.example>",
        "<a",
        "<",
        "</",
        "<a\x00href=https://a.example\x00>",
        '<a href="' + "x" * 200_000,
        "<!--[if mso]><a href=https://a.example>",
        "<!--[if",
        "<v:",
        "<a href=https://a.example data-mb-no-track",
        "</body",
        "<body",
        "<body></body></body>",
    ],
)
def test_garbage_never_raises(markup: str) -> None:
    for options in (BOTH, NOTHING, HtmlInstrumentOptions(True, True, pixel_position="top")):
        out, recorder = run(markup, options)
        assert_only_expected_changes(markup.replace(" data-mb-no-track", ""), out, recorder)


def test_random_garbage_never_raises() -> None:
    rng = random.Random(7)
    pieces = [
        "<",
        ">",
        "a",
        " href=",
        '"',
        "'",
        "https://x.example/",
        "<!--",
        "-->",
        "[if mso]>",
        "<![endif]",
        "</body>",
        "<body>",
        "<img src=",
        "&amp;",
        "\x00",
        "é",
        "<style>",
        "</a>",
    ]
    for _ in range(2000):
        markup = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        out, recorder = run(markup, BOTH)
        assert_only_expected_changes(markup, out, recorder)


def test_the_link_limit_counts_every_link_and_survives_the_process_boundary() -> None:
    import pickle

    from plugin.errors import TooManyLinksError

    urls = TrackingUrls("https://t.example.com", TokenSigner(["s"]))
    html = '<a href="https://example.com/a">a</a>' * 3
    fits = SimpleLinkRegistry(urls, b"a" * 12, max_links=3)
    assert instrument_html(html, fits, LINKS_ONLY).count("https://t.example.com/t/c/") == 3
    with pytest.raises(TooManyLinksError) as raised:
        instrument_html(html, SimpleLinkRegistry(urls, b"a" * 12, max_links=2), LINKS_ONLY)
    again = pickle.loads(pickle.dumps(raised.value))
    assert (again.code, again.field) == ("TOO_MANY_LINKS", "html")
    assert again.message == raised.value.message
