"""The copies of a send, built for the wire in one trip to the CPU pool per group.

A copy is its tracked bodies (``plugin.sending.compose``), its "Stop tracking"
footer (decided on the event loop, where the consent hooks run, and passed in),
its MIME message (``plugin.sending.mime``) and, unless a host CRM's hook takes
the message itself, its bytes for SMTP (``plugin.sending.wire``). All of it is
pure CPU work, done in one pool process per group of copies: the event loop of
the worker sends what comes back as it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from plugin.sending.compose import instrument_copy
from plugin.sending.mime import MessageTemplate, build_message
from plugin.sending.wire import Flat, needs_smtputf8
from plugin.settings import Settings
from plugin.tracking.instrument.html_body import insert_visible

__all__ = ["CopyToBuild", "EmailToBuild", "build_clean_copy", "build_copies", "with_footer"]


@dataclass(frozen=True)
class EmailToBuild:
    """What every copy of an email shares."""

    html: str | None
    text: str | None
    sender_name: str | None
    from_address: str
    to: Sequence[str]
    cc: Sequence[str]
    subject: str


@dataclass(frozen=True)
class CopyToBuild:
    public_id: bytes
    track_opens: bool
    track_links: bool
    message_id: str
    recipients: Sequence[str]  # its envelope
    footer: tuple[str, str] | None  # its "Stop tracking" footer (html, text), if any


def build_copies(
    *,
    email: EmailToBuild,
    copies: list[CopyToBuild],
    indexes: dict[str, int],
    settings: Settings,
    envelope_sender: str | None,
) -> list[EmailMessage | Flat]:
    """Each copy's message, flattened for its envelope from ``envelope_sender``; None: the
    messages themselves (a host CRM's hook delivers them).

    ``indexes`` (destination -> link index) as ``instrument_copy`` takes it.
    """
    template = _template_for(email)
    built: list[EmailMessage | Flat] = []
    for copy in copies:
        bodies = instrument_copy(
            html=email.html, text=email.text, public_id=copy.public_id,
            track_opens=copy.track_opens, track_links=copy.track_links, indexes=indexes,
            settings=settings,
        )
        html, text = with_footer(bodies.html, bodies.text, copy.footer)
        if envelope_sender is None:
            built.append(template.build(text=text, html=html, message_id=copy.message_id))
            continue
        smtputf8 = needs_smtputf8(envelope_sender, copy.recipients)
        data = template.wire(text=text, html=html, message_id=copy.message_id,
                             smtputf8=smtputf8)
        built.append(Flat(data=data, smtputf8=smtputf8, message_id=copy.message_id))
    return built


# A pool process keeps the templates of the emails it built copies of lately: the groups of
# one send come in turn, and a template (its headers made, its skeletons flattened) costs
# as much as a few copies. Kept briefly: a template's Date is when it was made.
TEMPLATE_SECONDS = 30.0
_TEMPLATES_KEPT = 8
_templates: dict[tuple[object, ...], tuple[float, MessageTemplate]] = {}


def _template_for(email: EmailToBuild) -> MessageTemplate:
    key = (email.sender_name, email.from_address, tuple(email.to), tuple(email.cc),
           email.subject)
    now = time.monotonic()
    kept = _templates.get(key)
    if kept is not None and now - kept[0] < TEMPLATE_SECONDS:
        return kept[1]
    for old, (made, _) in list(_templates.items()):
        if now - made >= TEMPLATE_SECONDS or len(_templates) >= _TEMPLATES_KEPT:
            # (pop: with a thread pool, another thread may have dropped it already)
            _templates.pop(old, None)
    template = MessageTemplate(sender_name=email.sender_name, sender_address=email.from_address,
                               to=email.to, cc=email.cc, subject=email.subject)
    _templates[key] = (now, template)
    return template


def build_clean_copy(
    *, email: EmailToBuild, public_id: bytes, message_id: str, bcc: Sequence[str],
    settings: Settings,
) -> EmailMessage:
    """The copy for the sender's own Sent folder: the author's HTML as written (no pixel,
    no tracked links, no honeypot, no consent footer), its Bcc kept as mail clients do."""
    bodies = instrument_copy(
        html=email.html, text=email.text, public_id=public_id, track_opens=False,
        track_links=False, indexes={}, settings=settings,
    )
    message = build_message(
        sender_name=email.sender_name, sender_address=email.from_address, to=email.to,
        cc=email.cc, subject=email.subject, text=bodies.text, html=bodies.html,
        message_id=message_id,
    )
    if bcc:
        message["Bcc"] = ", ".join(bcc)
    return message


def with_footer(
    html: str | None, text: str | None, footer: tuple[str, str] | None
) -> tuple[str | None, str | None]:
    """The instrumented bodies with ``footer`` (the ``resolve_stop_tracking_footer``
    hook's answer) added: HTML where a mail client renders it, see
    ``visible_insertion_point``: before the last real ``</body>``, else at the end; text
    at the end. Pure CPU work (the send builds copies in a pool process)."""
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
