"""Unit tests for plugin.tracking.instrument.text_body (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.tracking.edge.tokens import ClickToken, TokenSigner, TrackingUrls
from plugin.tracking.instrument.html_body import SimpleLinkRegistry
from plugin.tracking.instrument.text_body import find_urls, instrument_text
from tests.corpus import TEXT_EMAILS

CORPUS = TEXT_EMAILS
URLS = TrackingUrls("https://t.example.com", TokenSigner(["s"]))


def urls_in(text: str) -> list[str]:
    return [text[a:b] for a, b in find_urls(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://a.example/x.", ["https://a.example/x"]),
        ("(read it here: https://a.example/i/1).", ["https://a.example/i/1"]),
        (
            "https://en.wikipedia.org/wiki/Example_(film), ok",
            ["https://en.wikipedia.org/wiki/Example_(film)"],
        ),
        ("<https://a.example/long?x=1&y=2>", ["https://a.example/long?x=1&y=2"]),
        ("<URL:https://a.example/x>", ["https://a.example/x"]),
        ("[docs](https://a.example/d#s))", ["https://a.example/d#s"]),
        ('"https://a.example/q?r=1" (x)', ["https://a.example/q?r=1"]),
        ("go https://a.example/... now", ["https://a.example/"]),
        ("HTTPS://EXAMPLE.COM/UP ok", ["HTTPS://EXAMPLE.COM/UP"]),
        (
            "詳細はhttps://www.example.jp/contact\uff08受付\uff09",
            ["https://www.example.jp/contact"],
        ),
        ("https://münchen.example/é?q=ü ✨", ["https://münchen.example/é?q=ü"]),
        ("mailto:a@b.example www.example.com tel:+1 https:// x", []),
    ],
)
def test_find_urls(text: str, expected: list[str]) -> None:
    assert urls_in(text) == expected


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_only_urls_change(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    registry = SimpleLinkRegistry(URLS, b"c" * 12)
    out = instrument_text(text, registry, track_links=True)
    # Put each destination back: the text must be byte-identical (CRLF kept too).
    restored = instrument_text(out, SimpleLinkRegistry(URLS, b"d" * 12), track_links=False)
    assert restored == text
    tracked = [URLS.parse(u) for u in urls_in(out)]
    assert all(t is None or isinstance(t, ClickToken) for t in tracked)
    for url in urls_in(text):
        if "unsubscribe" in url.lower():
            assert url in out
    assert len(registry.destinations) == sum(isinstance(t, ClickToken) for t in set(tracked))


def test_untracks_our_urls_and_skips_unsubscribe() -> None:
    old = SimpleLinkRegistry(URLS, b"o" * 12)
    quoted = "> Read https://a.example/x?y=1&z=2.\n> " + old.open_url()
    text = instrument_text(quoted, old, track_links=True)
    assert "a.example" not in text
    assert instrument_text(text, SimpleLinkRegistry(URLS, b"n" * 12), track_links=False) == quoted
    line = "Se désabonner / Unsubscribe: https://www.exemple.fr/désabonnement?id=1\n"
    assert instrument_text(line, old, track_links=True) == line
    assert instrument_text("https://a.example/unsubscribe", old, track_links=True) == (
        "https://a.example/unsubscribe"
    )


def test_odd_input_never_raises() -> None:
    registry = SimpleLinkRegistry(URLS, b"o" * 12)
    for text in (
        "",
        "https://",
        "\x00https://a\x00",
        "\ud800 https://a.example/\ud800",
        "(" * 10000 + "https://a.example/" + ")" * 10000,
    ):
        assert isinstance(instrument_text(text, registry, track_links=True), str)
