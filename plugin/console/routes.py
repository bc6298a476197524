"""``/console``: the shell page (Jinja2, strict Content-Security-Policy) and its static assets.

The page is a shell: every datum it shows comes from the public GraphQL API, called by
the ES modules under ``static/js`` with the user's API token, so that the console is
also the frontend authors' working reference. No inline script or style and nothing
from another host: the CSP allows scripts, styles and images from this origin only,
and connections to this origin over HTTP and WebSocket.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from plugin.settings import Settings

__all__ = ["STATIC_DIR", "console_routes", "content_security_policy"]

STATIC_DIR = Path(__file__).parent / "static"

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("plugin.console", "templates"),
        autoescape=select_autoescape(["html"]),
    )


def content_security_policy(host: str) -> str:
    """Same origin only; ``host`` (the request's, as the browser sees it) for the WebSocket.

    ``'self'`` covers ws/wss of the same host in CSP 3 browsers; the explicit sources
    keep older ones working.
    """
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


async def _page(request: Request) -> Response:
    root = request.scope.get("root_path", "").rstrip("/")
    html = _environment().get_template("console.html").render(
        base=f"{root}/console", graphql=f"{root}/graphql"
    )
    host = request.headers.get("host", "") or request.url.netloc
    headers = {
        **_SECURITY_HEADERS,
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(_safe_host(host)),
    }
    return HTMLResponse(html, headers=headers)


def _safe_host(host: str) -> str:
    """The Host header as a CSP source: anything but host[:port] characters is dropped,
    so a forged header cannot add directives."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
    cleaned = "".join(ch for ch in host if ch in allowed)
    return cleaned or "localhost"


async def _home(request: Request) -> Response:
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/console", status_code=307)


class _StaticAssets:
    """StaticFiles with the console's security headers on every answer."""

    def __init__(self) -> None:
        self._files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self._files(scope, receive, send_with_headers)


def console_routes(settings: Settings) -> list[BaseRoute]:
    """The console's routes when it is switched on (``MAILBEACON_CONSOLE``), else none."""
    if not settings.console_enabled:
        return []
    return [
        Route("/", _home, methods=["GET", "HEAD"]),
        Route("/console", _page, methods=["GET", "HEAD"]),
        Mount("/console/static", app=_StaticAssets(), name="console-static"),
    ]
