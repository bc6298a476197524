"""The "Stop tracking" footer of tracked emails (for the sending pipeline).

Contract with the sending pipeline: for every copy that goes out *tracked*, call
:func:`stop_tracking_footer` with the addresses that copy is visibly addressed
to (the one recipient of a per-recipient copy; to + cc of a shared message) and
append the returned HTML to the HTML body and the text to the text body. The
HTML anchor carries ``data-mb-no-track``, so the HTML instrumenter leaves it
alone (it may be appended before or after instrumenting); the text instrumenter
rewrites every URL, so append the text part *after* instrumenting the text. An
untracked copy must not get a footer: it carries no link to the tracking domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consent.jurisdiction import normalize_address
from consent.policy import policy_for
from consent.service import current_settings, jurisdiction_of, policy_config
from consent.signing import keys_for
from consent.templating import DEFAULT_LANGUAGE, render
from plugin.settings import Settings
from plugin.tracking.instrument_html import insert_visible

__all__ = ["ConsentLink", "append_stop_tracking_footer", "consent_url", "stop_tracking_footer"]


@dataclass(frozen=True)
class ConsentLink:
    recipient: str
    url: str


def consent_url(email: str, settings: Settings) -> str:
    """The signed link to the recipient's consent page on the tracking domain."""
    return f"{settings.public_url}/consent/{keys_for(settings).sign_link(email)}"


async def stop_tracking_footer(
    recipients: str | Sequence[str], settings: Settings | None = None
) -> tuple[str, str] | None:
    """``(html, text)`` of a short "Stop tracking" footer for a tracked copy, or None when
    no recipient of the copy is under an opt-in or opt-out policy.

    One link per such recipient (labelled with the address when there are several).
    Templates ``stop_tracking.html`` / ``stop_tracking.txt`` (overridable).
    """
    settings = settings or current_settings()
    addresses = [recipients] if isinstance(recipients, str) else list(recipients)
    config = policy_config(settings)
    links: list[ConsentLink] = []
    seen: set[str] = set()
    for recipient in addresses:
        address = normalize_address(recipient)
        if address in seen:
            continue
        seen.add(address)
        if policy_for(await jurisdiction_of(address), config) in ("opt-in", "opt-out"):
            links.append(ConsentLink(recipient=address, url=consent_url(address, settings)))
    if not links:
        return None
    html = render(settings.data_dir, "stop_tracking.html", DEFAULT_LANGUAGE, links=links)
    text = render(settings.data_dir, "stop_tracking.txt", DEFAULT_LANGUAGE, links=links)
    return html.strip(), text.strip()


async def append_stop_tracking_footer(
    html: str | None,
    text: str | None,
    recipients: Sequence[str],
    settings: Settings | None = None,
) -> tuple[str | None, str | None]:
    """The instrumented bodies of a *tracked* copy with the footer added (HTML where a
    mail client renders it, see ``visible_insertion_point``: before the last real
    ``</body>``, else at the end; text at the end); unchanged when none is due."""
    footer = await stop_tracking_footer(recipients, settings)
    if footer is None:
        return html, text
    footer_html, footer_text = footer
    if html is not None:
        # The tag scanner of the instrumenter: never into a comment, an attribute or a
        # construct the end of the HTML leaves open, where no mail client shows it.
        html = insert_visible(html, f"{footer_html}\n")
    if text is not None:
        text = f"{text.rstrip()}\n\n-- \n{footer_text}\n"
    return html, text
