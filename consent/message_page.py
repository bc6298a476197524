"""The consent page of a message shared by several recipients (its message-level link).

Whoever holds this link is some recipient of the message, not a particular one, so the
page records no one's consent (DESIGN.md, consent). It offers two things:

- stop tracking this message, for everyone on it (it only ever reduces tracking);
- mail me my personal link: the visitor types an address; when it was a recipient of the
  message, a pixel-free mail with that address's personal link goes to that address
  alone (at most once a day, see :mod:`consent.message_link`). The answer is the same
  whether or not the address was on the message (bcc recipients stay hidden), and the
  mail leaves after the answer, so its timing does not tell either.

Both are POSTs of a signed, single-use form, like the personal page's.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from consent.message_link import claim_personal_link_mail, mail_personal_link, stop_message_tracking
from consent.page_http import error_page, form_language, page, read_posted_form
from consent.repository import copy_tracking_state
from consent.service import FormUsedError, spend_form, validate_address
from consent.signing import keys_for
from plugin.errors import ValidationError
from plugin.settings import Settings

__all__ = ["MESSAGE_FORM_ACTION", "message_page"]

#: The action bound into the form token of the message page.
MESSAGE_FORM_ACTION = "message-page"


def _form_subject(public_id: str) -> str:
    return f"message:{public_id}"


async def message_page(
    request: Request, public_id: str, language: str, settings: Settings
) -> Response:
    """GET shows the page; POST stops the message's tracking or mails a personal link."""
    copy = await copy_tracking_state(public_id)
    if copy is None:
        return error_page(settings, language, "error_link")
    if request.method in ("GET", "HEAD"):
        stopped = copy.tracking_stopped_at is not None
        return _show(request, public_id, language, settings, stopped=stopped)
    form = await read_posted_form(request, settings)
    if form is None:
        return error_page(settings, language, "error_form")
    language = form_language(form, language)
    token = keys_for(settings).verify_form(
        form.get("form", ""), _form_subject(public_id), MESSAGE_FORM_ACTION
    )
    choice = form.get("choice")
    if token is None or choice not in ("stop", "send-link"):
        return error_page(settings, language, "error_form")
    address = None
    if choice == "send-link":
        try:
            address = validate_address(form.get("email", ""))
        except ValidationError:
            stopped = copy.tracking_stopped_at is not None
            return _show(
                request, public_id, language, settings, stopped=stopped, problem="error_address"
            )
    try:
        await spend_form(token.nonce)
    except FormUsedError:
        return error_page(settings, language, "error_form")
    if address is None:
        await stop_message_tracking(public_id)
        return _show(request, public_id, language, settings, stopped=True, done="STOPPED")
    sender = await claim_personal_link_mail(public_id, address, settings)
    background = BackgroundTask(mail_personal_link, address, sender, settings) if sender else None
    stopped = copy.tracking_stopped_at is not None
    answer = _show(request, public_id, language, settings, stopped=stopped, done="LINK")
    answer.background = background
    return answer


def _show(
    request: Request,
    public_id: str,
    language: str,
    settings: Settings,
    *,
    stopped: bool,
    done: str | None = None,
    problem: str | None = None,
) -> Response:
    return page(
        settings,
        "message_page.html",
        language,
        400 if problem else 200,
        stopped=stopped,
        done=done,
        problem=problem,
        action=request.url.path,
        form_token=keys_for(settings).sign_form(_form_subject(public_id), MESSAGE_FORM_ACTION),
    )
