"""Tracked links for plain-text email bodies.

Finds http(s) URLs in running text the way mail clients linkify them,
replaces each with its tracked URL, and turns our own tracked URLs (from a
quoted earlier email) back into their destinations. Every other character is
left exactly as it was.
"""

from __future__ import annotations

import re

from plugin.tracking.instrument.html_body import (
    LinkRegistry,
    is_unsubscribe_text,
    is_unsubscribe_url,
)

__all__ = ["find_urls", "instrument_text"]

# A URL runs until whitespace, angle brackets, double quotes or backticks, and
# stops before CJK text and punctuation, full-width forms, typographic quotes
# and arrows, which mail clients also leave out of a link. Non-ASCII letters
# (IDN hosts, accented paths) stay in.
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])https?://[^\s<>\"`\u2018-\u201f\u2190-\u21ff\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]+",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'*\u2026"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _trim(url: str) -> str:
    """Drop trailing punctuation that belongs to the sentence, not the URL."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]  # "(see https://x.example/a)" but keep ".../Example_(film)"
        else:
            break
    return url


def find_urls(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of the http(s) URLs in ``text``."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        # Something after the scheme is required: "https://" alone is no link.
        if len(url) > url.index("//") + 2:
            spans.append((match.start(), match.start() + len(url)))
    return spans


def instrument_text(text: str, links: LinkRegistry, *, track_links: bool) -> str:
    """Return ``text`` with its http(s) URLs tracked (``track_links``) and ours untracked.

    Unsubscribe URLs (by the URL itself, or an unsubscribe word earlier on its
    line) are left alone. Never raises on odd input.
    """
    parts: list[str] = []
    pos = 0
    for start, end in find_urls(text):
        url = text[start:end]
        new = url
        original = links.untrack(url)
        if original:
            new = original
        if track_links:
            line_start = text.rfind("\n", 0, start) + 1
            if not (is_unsubscribe_url(new) or is_unsubscribe_text(text[line_start:start])):
                new = links.click_url(new)
        if new != url:
            parts.append(text[pos:start])
            parts.append(new)
            pos = end
    parts.append(text[pos:])
    return "".join(parts)
