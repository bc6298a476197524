"""The consent page on the tracking domain: ``/consent/{signed-link}``.

Two kinds of link reach it (see :mod:`consent.signing`):

- a *personal* link (mail to one recipient alone): GET shows the recipient's current
  choice and a form; only a POST of that form records the choice, as the recipient's
  own. Decline: WITHDRAWN when the current status is GRANTED (a consent is taken back),
  else DENIED (a refusal without prior consent).
- a *message* link (a message shared by several): see :mod:`consent.message_page`.

GET records nothing, since mail scanners follow every link. Every form carries a
hidden token, an HMAC over what the link names, the action, the issue time and a
random nonce; it expires after an hour, its nonce is spent with the choice (a form
records one choice, however many POSTs race), and a token issued before the
recipient's latest consent change is refused. An expired link (``consent_link_days``)
gets a 410 page, any other invalid link or form a 400 page; neither records anything.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consent.message_page import message_page
from consent.page_http import error_page, form_language, page, read_posted_form
from consent.policy import ConsentStatus
from consent.service import FormUsedError, latest_change_at, recipient_consent, record_consent
from consent.signing import ConsentKeys, LinkKind, keys_for
from consent.templating import pick_language
from plugin.errors import ValidationError
from plugin.settings import Settings

__all__ = ["CONSENT_PAGE_SOURCE", "FORM_ACTION", "consent_routes"]

#: The source of records made by the recipient on the page.
CONSENT_PAGE_SOURCE = "consent page"
#: The action bound into the form token of the personal page.
FORM_ACTION = "consent-choice"


def consent_routes(settings: Settings) -> list[BaseRoute]:
    """The consent page's routes (GET shows, POST acts)."""
    keys = keys_for(settings)

    async def route(request: Request) -> Response:
        language = pick_language(request.headers.get("accept-language"))
        claim = keys.verify_link(request.path_params["token"])
        if claim is None:
            return error_page(settings, language, "error_link")
        if claim.expired:
            return error_page(settings, language, "error_expired", 410)
        if claim.kind is LinkKind.MESSAGE:
            return await message_page(request, claim.subject, language, settings)
        if request.method in ("GET", "HEAD"):
            return await _show(request, claim.subject, language, settings, keys)
        return await _choose(request, claim.subject, language, settings, keys)

    return [Route("/consent/{token}", route, methods=["GET", "POST"])]


async def _show(
    request: Request,
    recipient: str,
    language: str,
    settings: Settings,
    keys: ConsentKeys,
    done: str | None = None,
) -> Response:
    state = await recipient_consent(recipient, settings)
    return page(
        settings,
        "page.html",
        language,
        recipient=state.email,
        status=state.status.value,
        done=done,
        action=request.url.path,
        form_token=keys.sign_form(state.email, FORM_ACTION),
        text_version=settings.consent_text_version,
    )


async def _choose(
    request: Request, recipient: str, language: str, settings: Settings, keys: ConsentKeys
) -> Response:
    form = await read_posted_form(request, settings)
    if form is None:
        return error_page(settings, language, "error_form")
    language = form_language(form, language)
    token = keys.verify_form(form.get("form", ""), recipient, FORM_ACTION)
    choice = form.get("choice")
    if token is None or choice not in ("grant", "decline"):
        return error_page(settings, language, "error_form")
    changed = await latest_change_at(recipient, settings)
    if changed is not None and changed >= token.issued_at:
        # Issued before the latest change: a replay, or a page shown before someone
        # else's change. Either way the recipient must see the current state first.
        return error_page(settings, language, "error_form")
    if choice == "grant":
        status = ConsentStatus.GRANTED
    else:
        current = (await recipient_consent(recipient, settings)).status
        taken_back = current is ConsentStatus.GRANTED
        status = ConsentStatus.WITHDRAWN if taken_back else ConsentStatus.DENIED
    try:
        await record_consent(
            recipient, status, CONSENT_PAGE_SOURCE, None, settings,
            by_recipient=True, form_nonce=token.nonce,
        )
    except FormUsedError:
        return error_page(settings, language, "error_form")
    except ValidationError:
        return error_page(settings, language, "error_link")
    done = "GRANTED" if status is ConsentStatus.GRANTED else "DENIED"
    return await _show(request, recipient, language, settings, keys, done=done)
