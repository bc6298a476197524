"""Open pixel, tracked links and honeypot for HTML email bodies, by splicing.

The input is never re-serialized: :mod:`plugin.tracking.instrument.html_scanner` finds
tags and attribute positions in the original string, and the only bytes that
change are rewritten ``href`` values, the inserted pixel and honeypot, the
removed ``data-mb-no-track`` attributes, and our own pixels (dropped) found in
a quoted earlier tracked email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from plugin.tracking.instrument.html_scanner import (
    Tag,
    attr_value,
    element_text,
    escape_attr,
    iter_tags,
    open_tail_start,
)
from plugin.tracking.instrument.link_registry import LinkRegistry, SimpleLinkRegistry

__all__ = [
    "NO_TRACK_ATTR",
    "HtmlInstrumentOptions",
    "LinkRegistry",
    "SimpleLinkRegistry",
    "honeypot_markup",
    "insert_visible",
    "instrument_html",
    "is_unsubscribe_text",
    "is_unsubscribe_url",
    "pixel_markup",
    "visible_insertion_point",
]

NO_TRACK_ATTR = "data-mb-no-track"
"""Put this attribute on a link to keep it untracked; it is removed on sending."""

_HTTP = re.compile(r"https?://", re.IGNORECASE)
_KEPT_ATTRS = frozenset({"href", "src", "alt", "title", NO_TRACK_ATTR})
_HTML_OR_HEAD = re.compile(r"<(?:html|head)[\t\n\f\r />]", re.IGNORECASE)


_UNSUBSCRIBE_URL = re.compile(r"unsubscribe|opt[-_]?out", re.IGNORECASE)
# Link texts that mean "unsubscribe" in the languages our users write in most;
# casefolded, so "Désinscription" and "DÉSINSCRIRE" both match "désinscri".
_UNSUBSCRIBE_WORDS = (
    "unsubscribe",
    "opt out",
    "opt-out",
    "abmelden",
    "désinscri",
    "desinscri",
    "disiscri",
    "darse de baja",
    "désabonn",
    "desabonn",
    "afmelden",
)


def is_unsubscribe_url(url: str) -> bool:
    """True when a URL looks like an unsubscribe link (never tracked: people expect that)."""
    return _UNSUBSCRIBE_URL.search(url) is not None


def is_unsubscribe_text(text: str) -> bool:
    """True when a link's text says unsubscribe / opt out in one of a few languages."""
    folded = " ".join(text.casefold().split())
    return any(word in folded for word in _UNSUBSCRIBE_WORDS)


@dataclass(frozen=True)
class HtmlInstrumentOptions:
    """What to do to one HTML body."""

    track_opens: bool
    track_links: bool
    pixel_position: Literal["bottom", "top"] = "bottom"
    skip_unsubscribe_links: bool = True
    honeypot: bool = True
    """Add the hidden honeypot link (only when tracking links)."""


def pixel_markup(url: str) -> str:
    """Return the open-pixel ``<img>`` for ``url`` (display-safe: 1x1, no border, no gap)."""
    return (
        f'<img src="{escape_attr(url, chr(34))}" width="1" height="1" alt="" border="0" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;" />'
    )


def honeypot_markup(url: str) -> str:
    """Return the honeypot link: no text, hidden from people and assistive technology."""
    return (
        f'<a href="{escape_attr(url, chr(34))}" style="display:none !important;" '
        'aria-hidden="true" tabindex="-1"></a>'
    )


class _Instrumenter:
    def __init__(self, html: str, links: LinkRegistry, options: HtmlInstrumentOptions) -> None:
        self.html = html
        self.links = links
        self.options = options
        self.edits: list[tuple[int, int, str]] = []
        self._visible_end: int | None = None

    def link(self, tag: Tag) -> None:
        html = self.html
        href = tag.attr("href")
        no_track = tag.attr(NO_TRACK_ATTR)
        if no_track is not None:
            self.edits.append((no_track.start, no_track.end, ""))
        if href is None or href.value_start < 0:
            return
        url = attr_value(html, href)
        if not _HTTP.match(url):
            return
        changed = False
        original = self.links.untrack(url)
        if original == "":
            self.drop_empty_anchor(tag)  # the honeypot of a quoted tracked email
            return
        if original is not None:
            url, changed = original, True
        if (
            self.options.track_links
            and no_track is None
            and _HTTP.match(url)
            and not self.is_unsubscribe(tag, url)
        ):
            tracked = self.links.click_url(url)
            changed = changed or tracked != url
            url = tracked
        if changed:
            self.edits.append((href.value_start, href.value_end, escape_attr(url, href.quote)))

    def is_unsubscribe(self, tag: Tag, url: str) -> bool:
        if not self.options.skip_unsubscribe_links:
            return False
        if is_unsubscribe_url(url):
            return True
        alt = tag.attr("alt") or tag.attr("title")
        if (
            alt is not None
            and alt.value_start >= 0
            and is_unsubscribe_text(attr_value(self.html, alt))
        ):
            return True
        if tag.name == "area":
            return False
        text = element_text(self.html, tag, unclosed_until=self.visible_end())[0]
        return is_unsubscribe_text(text)

    def visible_end(self) -> int:
        # Where our markup goes at the bottom: an element left open ends there for us, so
        # that instrumenting our own output again reads the same text (idempotence).
        if self._visible_end is None:
            self._visible_end = visible_insertion_point(self.html)
        return self._visible_end

    def drop_empty_anchor(self, tag: Tag) -> None:
        if tag.name != "a":
            return
        text, end = element_text(self.html, tag)
        if end >= 0 and not text.strip() and "<img" not in self.html[tag.end : end].lower():
            self.edits.append((tag.start, end, ""))

    def image(self, tag: Tag) -> None:
        src = tag.attr("src")
        if src is None or src.value_start < 0:
            return
        url = attr_value(self.html, src)
        if _HTTP.match(url) and self.links.untrack(url) == "":
            self.edits.append((tag.start, tag.end, ""))  # our own pixel, quoted in a reply

    def run(self) -> str:
        html, options = self.html, self.options
        body_open = body_close = -1
        for tag in iter_tags(html, keep=_KEPT_ATTRS):
            name = tag.name
            if name == "a" or name == "area" or name.startswith("v:"):
                self.link(tag)
            elif name == "img":
                self.image(tag)
            elif tag.conditional:
                continue  # a <body> only Outlook sees is no anchor for the pixel
            elif name == "body":
                if body_open < 0:
                    body_open = tag.end
            elif name == "/body":
                body_close = tag.start
        inserted = ""
        if options.track_opens:
            inserted += pixel_markup(self.links.open_url())
        if options.track_links and options.honeypot:
            inserted += honeypot_markup(self.links.honeypot_url())
        if inserted:
            at = _insertion_point(html, body_open, body_close, top=options.pixel_position == "top")
            self.edits.append((at, -1, inserted))
        return self.splice()

    def splice(self) -> str:
        if not self.edits:
            return self.html
        # Insertions carry end=-1: they sort before a removal starting at the same place.
        self.edits.sort(key=lambda edit: (edit[0], edit[1]))
        parts: list[str] = []
        pos = 0
        for start, end, text in self.edits:
            if start < pos:
                continue  # overlapping edits cannot happen; never corrupt if they do
            parts.append(self.html[pos:start])
            parts.append(text)
            pos = start if end < 0 else end
        parts.append(self.html[pos:])
        return "".join(parts)


def _insertion_point(html: str, body_open: int, body_close: int, *, top: bool) -> int:
    # The end of the document may leave a comment, raw-text element, tag or quoted
    # value open: markup after its start would be swallowed by it.
    tail = open_tail_start(html)
    if top:
        if 0 <= body_open <= tail:
            return body_open
        if body_open < 0 and _HTML_OR_HEAD.search(html) is None:
            return 0  # a fragment: its start is the top
    # A </body> the lenient scan saw inside a construct left open is no real end tag.
    if 0 <= body_close < tail:
        return body_close
    return tail


def visible_insertion_point(html: str, *, top: bool = False) -> int:
    """Where markup inserted into ``html`` is rendered by a mail client.

    Bottom: before the last real ``</body>`` (not one in a comment, an attribute, a
    raw-text element or an Outlook-only conditional), else at the end; but never
    inside a comment, raw-text element, tag or quoted value that the end of the
    document leaves open: then at that construct's start. Top: right after the
    real ``<body ...>``, at 0 for a fragment, else as for bottom.
    """
    body_open = body_close = -1
    for tag in iter_tags(html, keep=()):
        if tag.conditional:
            continue
        if tag.name == "body" and body_open < 0:
            body_open = tag.end
        elif tag.name == "/body":
            body_close = tag.start
    return _insertion_point(html, body_open, body_close, top=top)


def insert_visible(html: str, markup: str, *, top: bool = False) -> str:
    """``html`` with ``markup`` inserted at :func:`visible_insertion_point`, every
    other byte kept."""
    at = visible_insertion_point(html, top=top)
    return f"{html[:at]}{markup}{html[at:]}"


def instrument_html(html: str, links: LinkRegistry, options: HtmlInstrumentOptions) -> str:
    """Return ``html`` with tracking added as ``options`` say and our old tracking removed.

    - Open pixel (``track_opens``) where a mail client renders it (see
      :func:`visible_insertion_point`): before the last real ``</body>`` (or at the
      end), or right after ``<body ...>`` with ``pixel_position="top"``.
    - Every http(s) ``href`` of ``<a>``, ``<area>`` and VML ``<v:*>`` tags
      (also inside Outlook conditional comments) replaced by
      ``links.click_url(destination)`` (``track_links``), except links marked
      ``data-mb-no-track`` (the attribute is removed) and, with
      ``skip_unsubscribe_links``, unsubscribe links.
    - A hidden honeypot link next to the pixel (``track_links`` and ``honeypot``).
    - Always: our own pixels are dropped and our own tracked links turned back
      into their destinations (then tracked anew if ``track_links``).

    Every other byte is kept as it was. Never raises on malformed HTML.
    """
    return _Instrumenter(html, links, options).run()
