"""One access line per request: method, path (tokens elided), status, duration.

ASGI middleware in front of everything (the tracking fast path included), so
the line is the same under granian (``serve``) and uvicorn (tests, a host).
The path keeps its shape but not its secrets: ``/t/o/<token>``,
``/t/c/<token>``, ``/consent/<token>``; the query string and the client
address are never logged. Switched off with ``MAILBEACON_ACCESS_LOG=false``.

The lines bypass ``logging``: a LogRecord (caller lookup, thread and process
names) and a write per line cost more than the pixel itself. ``AccessWriter``
formats the line directly, in the format of the other lines (text or JSON),
and writes what accumulated to standard error at most every 50 ms (or every
256 lines), so a burst of hits costs one write, not one per hit.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import sys
import time
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.observability.logs import ACCESS_LOGGER

__all__ = ["AccessLog", "AccessWriter", "loggable_path"]

# Paths whose last part is a bearer secret (tracking and consent tokens).
_TOKEN_PREFIXES = ("/t/o/", "/t/c/", "/consent/")
_FLUSH_SECONDS = 0.05
_FLUSH_LINES = 256


def loggable_path(path: str) -> str:
    """``path`` with the token of a tracking or consent URL replaced by ``<token>``."""
    for prefix in _TOKEN_PREFIXES:
        at = path.find(prefix)  # anywhere: PUBLIC_URL may put a path prefix in front
        if at >= 0:
            return path[: at + len(prefix)] + "<token>"
    return path if len(path) <= 200 else path[:200] + "..."


class AccessWriter:
    """Formats access lines and writes them to standard error in small batches."""

    def __init__(self, log_format: Literal["text", "json"] = "text") -> None:
        self.json = log_format == "json"
        self._lines: list[str] = []
        self._flush_scheduled = False
        self._second = -1
        self._stamp = ""
        atexit.register(self.flush)

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once a second, not once a line
            self._second = second
            pattern = "%Y-%m-%dT%H:%M:%S" if self.json else "%Y-%m-%d %H:%M:%S"
            self._stamp = time.strftime(pattern, time.gmtime(second) if self.json else
                                        time.localtime(second))
        millis = int((now - self._second) * 1000)
        return f"{self._stamp}.{millis:03d}Z" if self.json else f"{self._stamp},{millis:03d}"

    def write(self, method: str, path: str, status: int, duration_ms: float) -> None:
        stamp = self._timestamp(time.time())
        if self.json:
            line = json.dumps({
                "time": stamp, "level": "INFO", "logger": ACCESS_LOGGER,
                "message": f"{method} {path} {status} {duration_ms:.2f}ms",
                "method": method, "path": path, "status": status, "duration_ms": duration_ms,
            }, ensure_ascii=False)
        else:
            line = f"{stamp} INFO {ACCESS_LOGGER}: {method} {path} {status} {duration_ms:.2f}ms"
        self._lines.append(line)
        if len(self._lines) >= _FLUSH_LINES:
            self.flush()
        elif not self._flush_scheduled:
            try:
                asyncio.get_running_loop().call_later(_FLUSH_SECONDS, self.flush)
                self._flush_scheduled = True
            except RuntimeError:  # no loop (a synchronous caller): write now
                self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        stream = sys.stderr  # looked up each time: tests and hosts may swap it
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # closed stream at exit: nothing to do
            pass


class AccessLog:
    """Writes one line for every HTTP request and WebSocket session of ``app`` when it ends."""

    def __init__(self, app: ASGIApp, writer: AccessWriter | None = None) -> None:
        self.app = app
        self.writer = writer or AccessWriter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
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
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            self.writer.write(method, loggable_path(scope.get("path", "")), status, duration_ms)
