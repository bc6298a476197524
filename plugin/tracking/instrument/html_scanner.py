"""A forward, quote-aware HTML tag scanner that never re-serializes.

It finds the few tags that link and pixel instrumentation cares about
(``a``, ``area``, ``img``, VML ``v:*``, ``body`` and ``</body>``) with their
exact attribute positions in the original string, so callers can splice
changes into it and leave every other byte alone.

Most of the work happens inside one compiled regular expression: its first
part skips, in C, text, ordinary comments, raw-text elements (``script``,
``style``, ``textarea``...) and every other tag with its quoted attribute
values (a ``>`` or ``<a`` inside a quoted value does not fool it); it stops
only at a tag of interest or at an Outlook conditional comment
(``<!--[if mso]> ... <![endif]-->``), whose hidden markup is scanned too and
reported with ``conditional=True``. A downlevel-revealed comment
(``<!--[if !mso]><!-->``) ends at its own ``-->``, so the markup after it is
scanned as ordinary markup, as every non-Outlook client shows it.

Malformed input never raises: an unterminated comment, raw-text element or
quote simply runs to the end of the input (which is then left untouched).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from html import unescape

__all__ = [
    "HTML_WS",
    "Attr",
    "Tag",
    "attr_value",
    "element_text",
    "escape_attr",
    "iter_tags",
    "open_tail_start",
]

HTML_WS = "\t\n\f\r "
"""The characters HTML treats as whitespace (narrower than Python's str.isspace)."""

_WS = r"[\t\n\f\r ]"
_END = r"(?=[\t\n\f\r />]|\Z)"  # where a tag name ends
_NAMES = r"(?:a|area|img|body|v:[^\t\n\f\r />]+)"
_VALUE = r"""(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+)"""
_ATTRS = rf"(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+(?:{_WS}*+={_WS}*+{_VALUE})?)*+"
_RAW_NAMES = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
# One alternative per raw-text element rather than a back-reference: capture
# groups inside the possessive loop trip a bug in Python 3.11's re module.
_RAW = "|".join(
    rf"<{name}{_END}{_ATTRS}[\t\n\f\r /]*+>?(?:[^<]++|<(?!/{name}{_END}))*+(?:</{name}{_END})?"
    for name in _RAW_NAMES
)

_MASTER = re.compile(
    rf"""
    (?:
        [^<]++                                         # text
      | <(?!{_NAMES}{_END}|/body{_END}|(?:{"|".join(_RAW_NAMES)}){_END})
            /?[a-z][^\t\n\f\r />]*+{_ATTRS}[\t\n\f\r /]*+>?    # any other tag, quotes respected
      | <!--(?!\[if)(?:-?>|(?:[^-]++|-(?!-!?>))*+(?:--!?>)?)  # ordinary comment, <!--> too
      | {_RAW}                                         # raw-text element with its content
      | <(?:[!?](?!--)|/(?![a-z]))[^>]*+>?             # doctype, bogus comments
      | <(?![a-z!?/])                                  # a lone '<' in text
    )*+
    (?:
        (?P<cond><!--)                                 # only conditional comments stop here
      | <(?P<name>{_NAMES}){_END}
      | (?P<endbody></body){_END}
    )
    """,
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_ATTR = re.compile(
    rf"""([\t\n\f\r /]*+)([^\t\n\f\r />][^\t\n\f\r />=]*+)(?:{_WS}*+={_WS}*+({_VALUE}))?""",
)
# The strict tokenizer of open_tail_start: every item must be *complete* as a browser's
# tokenizer sees it (a quote opens a value that only the same quote closes, a comment
# ends only at "-->", a raw-text element only at its end tag), so the loop stops at
# the first construct that the end of the document leaves open.
_STRICT_VALUE = r"""(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >"'][^\t\n\f\r >]*+)"""
# After a name, "=" commits to a value: a quote left open is no value and no new name.
_STRICT_ATTRS = (
    rf"(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rf"(?:{_WS}*+={_WS}*+(?:{_STRICT_VALUE}|(?=>))|(?!{_WS}*+=)))*+"
)
_STRICT_RAW = "|".join(
    rf"<{name}{_END}{_STRICT_ATTRS}[\t\n\f\r /]*+>(?:[^<]++|<(?!/{name}{_END}))*+"
    rf"</{name}{_END}[^>]*+>"
    for name in _RAW_NAMES
)
_COMPLETE = re.compile(
    rf"""
    (?:
        [^<]++                                                  # text
      | <!--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)                  # a closed comment
      | {_STRICT_RAW}                                           # a closed raw-text element
      | <(?:/|(?!(?:{"|".join(_RAW_NAMES)}|plaintext){_END}))[a-z][^\t\n\f\r />]*+
            {_STRICT_ATTRS}[\t\n\f\r /]*+>                     # a closed tag
      | <(?:!(?!--)|\?|/(?![a-z]))[^>]*+>                        # doctype, bogus comment, </>
      | <(?![a-z!?/])                                           # a lone '<' in text
    )*+
    """,
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_TAG_CLOSE = re.compile(r"[\t\n\f\r /]*+>?")
_COMMENT_END = re.compile(r"--!?>")
_UNQUOTED_UNSAFE = re.compile(r"[\t\n\f\r \"'=<>`]")
_LINK_TEXT_WINDOW = 20_000  # how far we look for an end tag to read an element's text
_TAGS = re.compile(r"<[^>]*>?")
_CONDITIONAL = re.compile(r"\[if[^\]]*\]>", re.IGNORECASE)
_ENDIF = re.compile(r"<!\[endif\]" + _WS + r"*\Z", re.IGNORECASE)


@dataclass(slots=True)
class Attr:
    """One attribute of a scanned tag, by position in the original string."""

    name: str
    """Lower-cased attribute name."""
    start: int
    """Start of the whitespace run before the name (for removal)."""
    end: int
    """End of the whole attribute, value and closing quote included."""
    value_start: int
    """Start of the value without its quote; -1 when there is no value."""
    value_end: int
    quote: str
    """The quote character, or "" for an unquoted or missing value."""


@dataclass(slots=True)
class Tag:
    """A tag of interest: ``a``, ``area``, ``img``, ``v:*``, ``body`` or ``/body``."""

    name: str
    """Lower-cased tag name; ``/body`` for the end tag."""
    start: int
    end: int
    """Index just after the tag's ``>`` (or where an unterminated tag stops)."""
    attrs: list[Attr]
    conditional: bool
    """True inside an Outlook conditional comment ``<!--[if ...]>...<![endif]-->``."""

    def attr(self, name: str) -> Attr | None:
        """Return the first attribute called ``name`` (lower case), as browsers do."""
        for attr in self.attrs:
            if attr.name == name:
                return attr
        return None


def _parse_attrs(
    html: str, pos: int, end: int, keep: Container[str] | None
) -> tuple[list[Attr], int]:
    attrs: list[Attr] = []
    match = _ATTR.match(html, pos, end)
    while match is not None:
        pos = match.end()
        name = match.group(2).lower()
        if keep is not None and name not in keep:
            match = _ATTR.match(html, pos, end)
            continue
        lead = match.group(1)
        ws_start = match.start(1) + len(lead.rstrip(HTML_WS))
        value = match.group(3)
        if value is None:
            vstart = vend = -1
            quote = ""
        elif value[:1] in ('"', "'") and len(value) >= 2 and value[-1] == value[0]:
            quote = value[0]
            vstart, vend = match.start(3) + 1, match.end(3) - 1
        else:
            quote = ""
            vstart, vend = match.start(3), match.end(3)
        attrs.append(Attr(name, ws_start, pos, vstart, vend, quote))
        match = _ATTR.match(html, pos, end)
    close = _TAG_CLOSE.match(html, pos, end)
    return attrs, close.end() if close is not None else pos


def iter_tags(
    html: str,
    start: int = 0,
    end: int | None = None,
    *,
    keep: Container[str] | None = None,
    conditional: bool = False,
) -> Iterator[Tag]:
    """Yield the tags of interest of ``html[start:end]`` in document order.

    ``keep``: lower-case names of the attributes to report (default: all).
    """
    stop = len(html) if end is None else end
    pos = start
    while pos < stop:
        match = _MASTER.match(html, pos, stop)
        if match is None:
            return
        if match.group("cond") is not None:
            body_start = match.end()
            close = _COMMENT_END.search(html, body_start, stop)
            comment_end = close.start() if close is not None else stop
            pos = close.end() if close is not None else stop
            head = _CONDITIONAL.match(html, body_start, comment_end)
            if head is None:
                continue
            inner = html[head.end() : comment_end]
            endif = _ENDIF.search(inner)
            # Downlevel-revealed "<!--[if !mso]><!-->" has no <![endif] inside:
            # it is just a comment and the markup after it is ordinary markup.
            if endif is not None:
                yield from iter_tags(
                    html, head.end(), head.end() + endif.start(), keep=keep, conditional=True
                )
            continue
        if match.group("endbody") is not None:
            tag_end = html.find(">", match.end(), stop)
            pos = stop if tag_end < 0 else tag_end + 1
            yield Tag("/body", match.start("endbody"), pos, [], conditional)
            continue
        attrs, pos = _parse_attrs(html, match.end(), stop, keep)
        yield Tag(match.group("name").lower(), match.start("name") - 1, pos, attrs, conditional)


def open_tail_start(html: str) -> int:
    """Where the construct left open by the end of ``html`` starts, else ``len(html)``.

    Markup appended to a document that ends inside an unterminated comment, raw-text
    element (``<style>``, ``<textarea>``...), ``<plaintext>``, tag or quoted attribute
    value would land inside it and never be rendered; inserted at the returned index
    instead, it is rendered (the open construct starts there). One pass of one
    regular expression, no backtracking.
    """
    match = _COMPLETE.match(html)
    return match.end() if match is not None else 0


def escape_attr(value: str, quote: str) -> str:
    """Escape ``value`` for an attribute written with ``quote`` ('"', "'" or "" unquoted)."""
    value = value.replace("&", "&amp;")
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#39;")
    if not value or _UNQUOTED_UNSAFE.search(value):
        # The original value was unquoted; this one needs quotes to stay one value.
        return '"' + value.replace('"', "&quot;") + '"'
    return value


def attr_value(html: str, attr: Attr) -> str:
    """Return an attribute's value as a browser sees a URL in it: decoded and trimmed."""
    raw = html[attr.value_start : attr.value_end]
    # Browsers decode entities in attribute values and trim ASCII whitespace from URLs.
    return (unescape(raw) if "&" in raw else raw).strip(HTML_WS)


def element_text(html: str, tag: Tag, *, unclosed_until: int | None = None) -> tuple[str, int]:
    """Return the text content of the element opened by ``tag`` and where its end tag ends.

    An element left open (no end tag before another of its kind starts, as an ``<a>``
    at the end of a careless signature) has no end (-1); its text is what a reader
    sees inside it: up to the next element of its kind, or up to ``unclosed_until``
    (where the visible document ends), else none. Markup inserted at that point, like
    our pixel, then never changes what the element says.
    """
    name = re.escape(tag.name)
    limit = min(len(html), tag.end + _LINK_TEXT_WINDOW)
    close = re.compile(rf"</{name}{_END}", re.IGNORECASE).search(html, tag.end, limit)
    reopened = re.compile(rf"<{name}{_END}", re.IGNORECASE).search(html, tag.end, limit)
    if close is not None and (reopened is None or close.start() < reopened.start()):
        inner = html[tag.end : close.start()]
        end = html.find(">", close.start())
        return unescape(_TAGS.sub(" ", inner)), (len(html) if end < 0 else end + 1)
    if unclosed_until is None:
        return "", -1
    stop = min(unclosed_until, reopened.start() if reopened is not None else limit)
    return unescape(_TAGS.sub(" ", html[tag.end : max(tag.end, stop)])), -1
