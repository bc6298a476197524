"""HTTP plumbing shared by the consent pages: rendering with safe headers, error pages,
the same-origin check and a small, strict form reader."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consent.templating import LANGUAGES, render
from plugin.settings import Settings

__all__ = ["error_page", "form_language", "page", "read_posted_form"]

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


def page(
    settings: Settings, name: str, language: str, http_status: int = 200, **context: object
) -> Response:
    html = render(settings.data_dir, name, language, **context)
    return HTMLResponse(html, status_code=http_status, headers=_HEADERS)


def error_page(settings: Settings, language: str, message: str, http_status: int = 400) -> Response:
    return page(settings, "error.html", language, http_status, message=message)


def _same_origin(request: Request, settings: Settings) -> bool:
    # Browsers send Origin on a form POST: another site's origin is a forgery attempt.
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    public = urlsplit(settings.public_url)
    got = urlsplit(origin)
    return (got.scheme, got.netloc) == (public.scheme, public.netloc)


async def read_posted_form(request: Request, settings: Settings) -> dict[str, str] | None:
    """The urlencoded form of a same-origin POST (small, UTF-8, each field once), or None.
    Parsed here rather than with python-multipart: a few short fields need no dependency."""
    if not _same_origin(request, settings):
        return None
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


def form_language(form: dict[str, str], language: str) -> str:
    """The language the page was shown in (posted back), else the negotiated one."""
    posted = form.get("lang", "")
    return posted if posted in LANGUAGES else language
