"""The "Stop tracking" footer of tracked emails (for the sending pipeline).

Contract with the sending pipeline: for every copy that goes out *tracked*, the
sending pipeline asks the ``resolve_stop_tracking_footer`` hook (consent.gate
registers :func:`stop_tracking_footer` there) with every address the copy goes to (the one
recipient of a per-recipient copy; to + cc + bcc of a shared message) and, for a
shared message, ``message=`` the copy's public id; add the returned HTML to the
HTML body and the text to the text body (:func:`with_footer`, pure CPU work that
the send does in its CPU pool, where it builds the copy; it lives in
plugin.sending.copies). The HTML anchor carries
``data-mb-no-track``, so the HTML instrumenter leaves it alone (it may be
appended before or after instrumenting); the text instrumenter rewrites every
URL, so append the text part *after* instrumenting the text. An untracked copy
must not get a footer: it carries no link to the tracking domain.

Which link (DESIGN.md, consent: a link that can record a choice reaches only the
recipient it names): a copy that goes to one recipient alone carries that
recipient's personal link; a copy shared by several carries one message-level
link, which can only stop that message's tracking and mail a recipient its
personal link.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from consent.jurisdiction import normalize_address
from consent.policy import policy_for
from consent.service import jurisdiction_of, policy_config
from consent.signing import keys_for
from consent.templating import DEFAULT_LANGUAGE, render

# Re-exported: the sending pipeline adds the footer itself (plugin.sending.copies).
from plugin.sending.copies import with_footer
from plugin.settings import Settings

__all__ = [
    "ConsentLink",
    "message_link_url",
    "personal_link_url",
    "stop_tracking_footer",
    "with_footer",
]


_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ConsentLink:
    url: str
    shared: bool  # a message-level link ("Stop tracking this message")


def _expiry(settings: Settings, now: float | None) -> float:
    return (time.time() if now is None else now) + settings.consent_link_days * _SECONDS_PER_DAY


def personal_link_url(email: str, settings: Settings, *, now: float | None = None) -> str:
    """The recipient's own consent page (records its choice): only for mail to it alone."""
    token = keys_for(settings).sign_personal_link(email, expires_at=_expiry(settings, now))
    return f"{settings.public_url}/consent/{token}"


def message_link_url(public_id: str, settings: Settings, *, now: float | None = None) -> str:
    """The consent page of a shared message's copy (stops it, mails personal links)."""
    token = keys_for(settings).sign_message_link(public_id, expires_at=_expiry(settings, now))
    return f"{settings.public_url}/consent/{token}"


async def stop_tracking_footer(
    recipients: str | Sequence[str],
    settings: Settings,
    *,
    message: str | None = None,
) -> tuple[str, str] | None:
    """``(html, text)`` of a short "Stop tracking" footer for a tracked copy, or None when
    no recipient of the copy is under an opt-in or opt-out policy.

    One recipient: its personal link. Several: the message-level link of ``message`` (the
    copy's public id, required then). Templates ``stop_tracking.html`` /
    ``stop_tracking.txt`` (overridable).
    """
    listed = [recipients] if isinstance(recipients, str) else list(recipients)
    addresses = list(dict.fromkeys(normalize_address(r) for r in listed))
    config = policy_config(settings)
    due = [a for a in addresses if policy_for(await jurisdiction_of(a), config) != "none"]
    if not due:
        return None
    if len(addresses) == 1:
        link = ConsentLink(url=personal_link_url(addresses[0], settings), shared=False)
    elif message is None:
        raise ValueError("the footer of a shared message needs the copy's public id")
    else:
        link = ConsentLink(url=message_link_url(message, settings), shared=True)
    html = render(settings.data_dir, "stop_tracking.html", DEFAULT_LANGUAGE, link=link)
    text = render(settings.data_dir, "stop_tracking.txt", DEFAULT_LANGUAGE, link=link)
    return html.strip(), text.strip()
