"""One access line per request: method, path (tokens elided), status, duration.

ASGI middleware in front of everything (the tracking fast path included), so
the line is the same under granian (``serve``) and uvicorn (tests, a host).
The path keeps its shape but not its secrets: ``/t/o/<token>``,
``/t/c/<token>``, ``/consent/<token>``; the query string and the client
address are never logged. Switched off with ``MAILBEACON_ACCESS_LOG=false``.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.observability.logs import ACCESS_LOGGER

__all__ = ["AccessLog", "loggable_path"]

log = logging.getLogger(ACCESS_LOGGER)

# Paths whose last part is a bearer secret (tracking and consent tokens).
_TOKEN_PREFIXES = ("/t/o/", "/t/c/", "/consent/")


def loggable_path(path: str) -> str:
    """``path`` with the token of a tracking or consent URL replaced by ``<token>``."""
    for prefix in _TOKEN_PREFIXES:
        if path.startswith(prefix):
            return prefix + "<token>"
    return path if len(path) <= 200 else path[:200] + "..."


class AccessLog:
    """Logs every HTTP request and WebSocket session of ``app`` when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            mtype = message["type"]
            if mtype == "http.response.start":
                status = message["status"]
            elif mtype == "websocket.accept":
                status = 101
            elif mtype == "websocket.close" and not status:
                status = 403  # closed before the handshake completed: refused
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            status = status or 500
            raise
        finally:
            method = scope.get("method", "GET") if kind == "http" else "WS"
            path = loggable_path(scope.get("path", ""))
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log.info(
                "%s %s %d %.2fms", method, path, status, duration_ms,
                extra={"method": method, "path": path, "status": status,
                       "duration_ms": duration_ms},
            )
