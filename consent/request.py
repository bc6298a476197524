"""``requestTrackingConsent``: mail the recipient a request with a link to the consent page.

The request carries no pixel and no tracked link: it is built here from the
``request_email.*`` templates (overridable, see :mod:`consent.templating`) and
handed straight to the delivery layer, never through the tracking pipeline. It
shows the consent text version and one signed link to the consent page. The
wording is Italian for recipients in Italy (by the host hook or the domain),
English otherwise.
"""

from __future__ import annotations

from consent.footer import personal_link_url
from consent.service import (
    RecipientConsentState,
    jurisdiction_of,
    recipient_consent,
    validate_address,
)
from consent.templating import render
from plugin.accounts.models import User
from plugin.errors import ErrorCode, MailbeaconError
from plugin.sending.delivery import DeliveryError, deliver
from plugin.sending.mime import build_message, new_message_id
from plugin.settings import Settings

__all__ = ["ConsentRequestError", "request_tracking_consent"]

_ITALIAN = frozenset({"IT", "SM", "VA"})


class ConsentRequestError(MailbeaconError):
    """The request email could not be handed to the mail system."""

    code = ErrorCode.DELIVERY_FAILED


async def request_tracking_consent(
    email: str, requested_by: User, settings: Settings
) -> RecipientConsentState:
    """Send the consent request to ``email`` from ``requested_by``; return the (unchanged)
    consent state. Nothing is recorded: only the recipient's own choice is."""
    address = validate_address(email)
    jurisdiction = await jurisdiction_of(address)
    language = "it" if jurisdiction.country in _ITALIAN else "en"
    # Mailed to this recipient alone: its personal link, which may record its choice.
    url = personal_link_url(address, settings)
    context = {"url": url, "text_version": settings.consent_text_version}
    subject = " ".join(render(settings.data_dir, "request_email_subject.txt", language).split())
    message = build_message(
        sender_name=requested_by.name,
        sender_address=requested_by.email,
        to=[address],
        cc=[],
        subject=subject,
        text=render(settings.data_dir, "request_email.txt", language, **context),
        html=render(settings.data_dir, "request_email.html", language, **context),
        message_id=new_message_id(settings.message_id_domain or settings.public_host),
    )
    try:
        await deliver(
            message,
            sender=settings.bounce_address or requested_by.email,
            recipients=[address],
            settings=settings,
        )
    except DeliveryError as error:
        raise ConsentRequestError(
            f"the consent request could not be sent: {error.reason}"
        ) from None
    return await recipient_consent(address, settings)
