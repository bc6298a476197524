"""The consent page on the tracking domain: ``/consent/{signed-link}``.

GET shows the recipient's current choice and a form; it records nothing, since
mail scanners follow every link. Only a POST of that form records a choice. The
form carries a hidden token, an HMAC over recipient, action and issue time that
expires after an hour; a token issued before the recipient's latest consent
change is refused, so a form cannot be replayed. Any invalid link or form gets
a 400 page and records nothing.

Decline: WITHDRAWN when the current status is GRANTED (a consent is taken back),
else DENIED (a refusal without prior consent).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from consent.policy import ConsentStatus
from consent.service import FormUsedError, latest_change_at, recipient_consent, record_consent
from consent.signing import keys_for
from consent.templating import LANGUAGES, pick_language, render
from plugin.errors import ValidationError
from plugin.settings import Settings

__all__ = ["CONSENT_PAGE_SOURCE", "FORM_ACTION", "consent_routes"]

#: The source of records made by the recipient on the page.
CONSENT_PAGE_SOURCE = "consent page"
#: The action bound into the form token.
FORM_ACTION = "consent-choice"
_MAX_FORM_BYTES = 4096
_HEADERS = {
    "Cache-Control": "no-store",
    # The signed link is in the URL: never leak it to another site.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _page(
    settings: Settings, name: str, language: str, http_status: int = 200, **context: object
) -> Response:
    html = render(settings.data_dir, name, language, **context)
    return HTMLResponse(html, status_code=http_status, headers=_HEADERS)


def _error(settings: Settings, language: str, message: str) -> Response:
    return _page(settings, "error.html", language, 400, message=message)


def _same_origin(request: Request, settings: Settings) -> bool:
    # Browsers send Origin on a form POST: another site's origin is a forgery attempt.
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    public = urlsplit(settings.public_url)
    got = urlsplit(origin)
    return (got.scheme, got.netloc) == (public.scheme, public.netloc)


async def _read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form (small, UTF-8, each field once), or None. Parsed here rather
    than with python-multipart: three short fields need no extra dependency."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=10, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


def consent_routes(settings: Settings) -> list[BaseRoute]:
    """The consent page's routes (GET shows, POST records)."""
    keys = keys_for(settings)

    async def show(
        request: Request, recipient: str, language: str, done: str | None = None
    ) -> Response:
        state = await recipient_consent(recipient, settings)
        return _page(
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

    async def page(request: Request) -> Response:
        language = pick_language(request.headers.get("accept-language"))
        recipient = keys.verify_link(request.path_params["token"])
        if recipient is None:
            return _error(settings, language, "error_link")
        if request.method in ("GET", "HEAD"):
            return await show(request, recipient, language)
        return await choose(request, recipient, language)

    async def choose(request: Request, recipient: str, language: str) -> Response:
        form = await _read_form(request) if _same_origin(request, settings) else None
        if form is None:
            return _error(settings, language, "error_form")
        posted_lang = form.get("lang", "")
        language = posted_lang if posted_lang in LANGUAGES else language
        token = keys.verify_form(form.get("form", ""), recipient, FORM_ACTION)
        choice = form.get("choice")
        if token is None or choice not in ("grant", "decline"):
            return _error(settings, language, "error_form")
        changed = await latest_change_at(recipient, settings)
        if changed is not None and changed >= token.issued_at:
            # Issued before the latest change: a replay, or a page shown before someone
            # else's change. Either way the recipient must see the current state first.
            return _error(settings, language, "error_form")
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
            return _error(settings, language, "error_form")
        except ValidationError:
            return _error(settings, language, "error_link")
        done = "GRANTED" if status is ConsentStatus.GRANTED else "DENIED"
        return await show(request, recipient, language, done=done)

    return [Route("/consent/{token}", page, methods=["GET", "POST"])]
