"""The instrumented bodies of one copy: the same input always gives the same bytes.

Tokens are deterministic (an HMAC of the copy's public id, the link index and
the destination), so the service instruments once at send time to find the
tracked links it must store, and the send actor instruments each copy again
from the stored rendered bodies and link indexes, getting exactly the mail the
links were recorded for, on every retry. No per-copy body is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.settings import Settings
from plugin.tracking.edge.signer import urls_for
from plugin.tracking.instrument.html_body import (
    HtmlInstrumentOptions,
    SimpleLinkRegistry,
    instrument_html,
)
from plugin.tracking.instrument.html_to_text import html_to_text
from plugin.tracking.instrument.text_body import instrument_text

__all__ = ["InstrumentedCopy", "instrument_copy", "tracked_destinations"]


@dataclass(frozen=True)
class InstrumentedCopy:
    html: str | None
    text: str | None
    destinations: list[tuple[int, str]]  # (index, url) of the tracked links used


def instrument_copy(
    *,
    html: str | None,
    text: str | None,
    public_id: bytes,
    track_opens: bool,
    track_links: bool,
    indexes: dict[str, int],
    settings: Settings,
    max_links: int | None = None,
) -> InstrumentedCopy:
    """Add this copy's pixel and tracked links; always strip our own earlier tracking.

    ``text`` None with an ``html`` body: a plain-text alternative is derived here.

    ``indexes`` (destination -> link index) is shared by every copy of an email
    and grows as new destinations are met (in this process: a pool process works
    on its own copy of it). Raises TooManyLinksError past ``max_links`` links.

    Pure CPU work (seconds for thousands of links): callers on an event loop run it
    with ``plugin.cpu.run_cpu``.
    """
    registry = _registry(public_id, indexes, settings, max_links)
    options = HtmlInstrumentOptions(
        track_opens=track_opens,
        track_links=track_links,
        pixel_position=settings.pixel_position,
        skip_unsubscribe_links=settings.skip_unsubscribe_links,
    )
    out_html = None if html is None else instrument_html(html, registry, options)
    track_text = track_links and settings.track_text_links
    if text is None and html is not None and out_html is not None:
        # No text given: derive it from the HTML as sent, so the text part tracks
        # exactly the links the HTML tracks (not those marked data-mb-no-track).
        # Our own tracking is already stripped there; the hidden pixel and honeypot
        # are not text. Without text-link tracking, derive from the untracked HTML.
        source = out_html if track_text else instrument_html(
            html, registry, HtmlInstrumentOptions(track_opens=False, track_links=False)
        )
        out_text: str | None = html_to_text(source)
    elif text is not None:
        out_text = instrument_text(text, registry, track_links=track_text)
    else:
        out_text = None
    return InstrumentedCopy(html=out_html, text=out_text, destinations=registry.destinations)


def tracked_destinations(
    *, html: str | None, text: str | None, settings: Settings, max_links: int
) -> list[tuple[int, str]]:
    """The (index, destination) pairs that tracking the links of these bodies stores.

    The same numbering as :func:`instrument_copy` (tokens do not depend on the copy's
    id for that), without deriving a text part. Raises TooManyLinksError.
    """
    registry = _registry(b"\0" * 12, {}, settings, max_links)
    if html is not None:
        options = HtmlInstrumentOptions(
            track_opens=False, track_links=True, honeypot=False,
            skip_unsubscribe_links=settings.skip_unsubscribe_links,
        )
        instrument_html(html, registry, options)
    if text is not None and settings.track_text_links:
        instrument_text(text, registry, track_links=True)
    return registry.destinations


def _registry(
    public_id: bytes, indexes: dict[str, int], settings: Settings, max_links: int | None
) -> SimpleLinkRegistry:
    urls = urls_for(settings)
    # The honeypot leads somewhere harmless that is ours: the tracking domain's root.
    return SimpleLinkRegistry(
        urls, public_id, indexes=indexes, honeypot_destination=urls.public_url + "/",
        max_links=max_links,
    )

