"""Files mailbeacon serves itself under ``/static/``: pages' scripts and vendored libraries.

They live in the installed package (``plugin/static/``, declared as package data), so a
browser never needs another host: many CRM installations cannot reach a CDN. Vendored
libraries sit under ``static/vendor/<name>-<version>/`` with their licence files
(``static/vendor/README.md`` says where each came from and how to update it).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["STATIC_PREFIX", "static_routes"]

STATIC_PREFIX = "/static"


class _NoSniffStaticFiles(StaticFiles):
    """StaticFiles whose answers forbid content sniffing (a .js is run as nothing else)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def static_routes() -> list[BaseRoute]:
    """The ``/static`` mount, read from the installed ``plugin`` package."""
    files = _NoSniffStaticFiles(packages=[("plugin", "static")])
    return [Mount(STATIC_PREFIX, app=files, name="static")]
