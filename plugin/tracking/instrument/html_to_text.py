"""The plain-text alternative of an HTML email.

We tried html2text first: it writes Markdown (``[text](url)``, markdown
tables out of layout tables, backslash escapes such as ``1\\.``), which reads
badly as a text/plain part of an email. This small converter on the standard
library's tolerant ``html.parser`` gives mail-client style text instead:
links as ``text (url)``, one line per block, list bullets, table cells side by
side, no CSS/script text, no hidden preheaders, no Outlook-only markup
(conditional comments are comments), entities decoded, whitespace collapsed.
"""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "header", "main", "nav", "p", "pre",
        "section", "table", "tbody", "thead", "tfoot", "tr",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    }
)  # fmt: skip
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_WS = re.compile(r"[ \t\n\r\f\v\u00a0\u200b\u200c\u200d\u2060\ufeff\u034f]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_LINKABLE = re.compile(r"(?:https?:|mailto:)", re.IGNORECASE)


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.pre = 0
        self.pending = 0
        self.lists: list[list[int]] = []  # one counter per open list; [-1] means unordered
        self.links: list[tuple[str, int, str]] = []  # (href, position in out, image alt)

    # Output helpers -----------------------------------------------------
    def newline(self, count: int = 1) -> None:
        # Block boundaries only ask for "at least n line breaks": nested blocks
        # (li > p, td > div) must not pile up blank lines.
        self.pending = max(self.pending, count)

    def text(self, data: str) -> None:
        if self.pending:
            if not data.strip():
                return  # whitespace between blocks
            self.out.append("\n" * self.pending)
            self.pending = 0
        self.out.append(data)

    # Parser callbacks ---------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        found = dict(attrs)
        hidden = "hidden" in found or _HIDDEN_STYLE.search(found.get("style") or "")
        if (tag in _SKIP or hidden) and tag not in _VOID:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in _BLOCKS or tag in _HEADINGS:
            self.newline(2 if tag in _HEADINGS or tag == "p" else 1)
        if tag == "pre":
            self.pre += 1
        elif tag == "br":
            self.newline()
        elif tag == "hr":
            self.newline()
            self.text("-" * 20)
            self.newline()
        elif tag in ("ul", "ol"):
            self.newline(1 if self.lists else 2)  # a blank line around top-level lists
            self.lists.append([1 if tag == "ol" else -1])
        elif tag == "li":
            self.newline()
            counter = self.lists[-1] if self.lists else [-1]
            indent = "  " * max(len(self.lists) - 1, 0)
            if counter[0] < 0:
                self.text(f"{indent}- ")
            else:
                self.text(f"{indent}{counter[0]}. ")
                counter[0] += 1
        elif tag in ("td", "th"):
            self.text(" ")
        elif tag == "a":
            self.links.append(((found.get("href") or "").strip(), len(self.out), ""))
        elif tag == "img" and self.links:
            href, pos, alt = self.links[-1]
            self.links[-1] = (href, pos, alt or (found.get("alt") or "").strip())

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "a" and self.links:
            self.end_link()
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.newline(1 if self.lists else 2)
        if tag in _BLOCKS or tag in _HEADINGS or tag in ("ul", "ol", "li"):
            self.newline(2 if tag in _HEADINGS or tag == "p" else 1)

    def end_link(self) -> None:
        href, pos, alt = self.links.pop()
        if not _LINKABLE.match(href):
            return
        label = _WS.sub(" ", "".join(self.out[pos:])).strip()
        shown = href[7:] if href.lower().startswith("mailto:") else href
        if not label and alt:
            self.text(alt)
            label = alt
        if not label:
            self.text(shown)
        elif label != shown and label.rstrip("/") != shown.rstrip("/"):
            self.text(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self.skip_tag is None:
            self.text(data if self.pre else _WS.sub(" ", data))


def _tidy(raw: str) -> str:
    lines = []
    for line in raw.split("\n"):
        # Non-breaking and zero-width fillers (preheader padding) are whitespace here.
        lines.append(_WS.sub(" ", line).strip())
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    return text.strip() + "\n" if text.strip() else ""


def html_to_text(html: str) -> str:
    """Return a readable plain-text rendering of ``html`` with links as ``text (url)``."""
    builder = _TextBuilder()
    # html.parser is tolerant by design; should it still fail, keep what we have.
    with contextlib.suppress(Exception):
        builder.feed(html)
        builder.close()
    while builder.links:
        builder.end_link()
    return _tidy("".join(builder.out))
