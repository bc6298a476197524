"""``/console``: the shell page (Jinja2, strict Content-Security-Policy).

The page is a shell: every datum it shows comes from the public GraphQL API, called by
the ES modules under ``plugin/static/console/js`` (served under ``/static`` by
plugin/static_files.py, like every asset of ours) with the user's API token, so that the
console is also the frontend authors' working reference. No inline script or style and
nothing from another host: the CSP allows scripts, styles and images from this origin
only, and connections to this origin over HTTP and WebSocket. The vendored graphql-ws
client is preloaded with its SRI hash (plugin/static/vendor/README.md).
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.settings import Settings
from plugin.static_files import STATIC_PREFIX

__all__ = ["GRAPHQL_WS", "console_routes", "content_security_policy"]

# The vendored graphql-ws modules (static/vendor/graphql-ws-6.4.2) and their sha384 hashes.
GRAPHQL_WS = {
    "vendor/graphql-ws-6.4.2/client.js": (
        "sha384-bsk5zOGRwGJLFqassmcHYGFAK03iH+zPHbdv7Y+mTXZ1uR+9DOQ4dnjw5p8904kU"
    ),
    "vendor/graphql-ws-6.4.2/common-CGW11Fyb.js": (
        "sha384-mCOCDRFfQ7huBk2yMBMDYCXa4ZEeuKgDfrQR5qA/eaQ9ZhpxR30d+roaYQO/DTqX"
    ),
}

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
        static=f"{root}{STATIC_PREFIX}", graphql=f"{root}/graphql", preload=GRAPHQL_WS
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


def console_routes(settings: Settings) -> list[BaseRoute]:
    """The console's routes when it is switched on (``MAILBEACON_CONSOLE``), else none."""
    if not settings.console_enabled:
        return []
    return [
        Route("/", _home, methods=["GET", "HEAD"]),
        Route("/console", _page, methods=["GET", "HEAD"]),
    ]
