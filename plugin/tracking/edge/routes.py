"""The public tracking endpoints: the open pixel and the click redirect (raw ASGI, no auth).

They answer from the token alone: no database work while the client waits.
A valid token's hit is handed durably to the queue (``handoff``) before the
answer goes out; anything else records nothing. The pixel answers every GET
and HEAD with the same GIF whatever the token, so it reveals nothing; a click
with a bad token gets a small static 404 page and never a redirect.
"""

from __future__ import annotations

import base64
import logging
import time

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin.net import client_address
from plugin.observability.metrics import HITS_ANSWERED
from plugin.runtime import RuntimeSlot, process_slot
from plugin.settings import Settings
from plugin.tracking.edge.flood import FloodGuard
from plugin.tracking.edge.hits import (
    MAX_USER_AGENT,
    WIRE_VERSION,
    HitKind,
    credential_hash,
    new_event_id,
)
from plugin.tracking.edge.location import redirect_location
from plugin.tracking.edge.signer import signer_for
from plugin.tracking.edge.tokens import ClickToken, OpenToken

__all__ = ["PIXEL_GIF", "ClickEndpoint", "PixelEndpoint", "TrackingFastPath", "tracking_routes"]

log = logging.getLogger(__name__)

# The smallest transparent 1x1 GIF (43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

_NO_CACHE = [
    (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0, private"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL_GIF)).encode()),
    *_NO_CACHE,
]
_NOT_FOUND_PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8">'
    b'<meta name="robots" content="noindex"><title>Link not found</title></head>'
    b"<body><h1>Link not found</h1><p>This link is not valid. "
    b"Please check that you copied it completely.</p></body></html>"
)
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND_PAGE)).encode()),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'"),
]
_ALLOWED = (b"allow", b"GET, HEAD")
_TOKEN_PARAM = "token"  # noqa: S105 - the route parameter's name


def _token_of(scope: Scope) -> str:
    value = scope.get("path_params", {}).get(_TOKEN_PARAM, "")
    return value if isinstance(value, str) else ""


def _headers_of(scope: Scope) -> tuple[str, str | None]:
    """The user agent (truncated) and the hash of a bearer token, if any."""
    user_agent = ""
    credential = None
    for name, value in scope.get("headers", ()):
        lname = name.lower()
        if lname == b"user-agent":
            user_agent = value[: MAX_USER_AGENT * 4].decode("utf-8", "replace")[:MAX_USER_AGENT]
        elif lname == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and 0 < len(token.strip()) <= 512:
                credential = credential_hash(token.strip().decode("latin-1"))
    return user_agent, credential


class _Endpoint:
    """Shared parts: the settings, method check and the durable hand-off of a hit.

    ``slot``: where the composition root puts the started runtime, whose hand-off takes
    the hits (this process's slot unless given).
    """

    kind: HitKind

    def __init__(self, settings: Settings, slot: RuntimeSlot | None = None) -> None:
        self.settings = settings
        self.slot = slot if slot is not None else process_slot()
        self.signer = signer_for(settings)
        self.kind_code = "O" if self.kind is HitKind.OPEN else "C"
        self.flood = FloodGuard(settings.flood_limit, settings.duplicate_window_seconds)
        # Bound once: the hot path pays an increment, not a label lookup.
        kind = self.kind.value.lower()
        self.answered = {
            outcome: HITS_ANSWERED.labels(kind, outcome)
            for outcome in (
                "queued",
                "invalid",
                "queue_failed",
                "repeat_not_stored",
                "method_not_allowed",
            )
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, send, _token_of(scope))

    async def handle(self, scope: Scope, send: Send, raw: str) -> None:
        """Answer one HTTP request whose path carried the token ``raw``."""
        method = scope.get("method", "")
        if method not in ("GET", "HEAD"):
            self.answered["method_not_allowed"].inc()
            await _method_not_allowed(send)
            return
        await self.answer(scope, send, raw, head=method == "HEAD")

    async def answer(self, scope: Scope, send: Send, raw: str, *, head: bool) -> None:
        raise NotImplementedError

    async def _hand_off(self, scope: Scope, token: OpenToken | ClickToken) -> bool:
        """Queue the hit durably; False if that failed (already logged)."""
        runtime = self.slot.runtime  # attribute reads only: this runs for every hit
        handoff = runtime.handoff if runtime is not None else None
        if handoff is None:
            log.error("tracking hit dropped: the hand-off is not started in this process")
            self.answered["queue_failed"].inc()
            return False
        user_agent, credential = _headers_of(scope)
        click = token if isinstance(token, ClickToken) else None
        address = client_address(scope, self.settings.trusted_proxies)
        target = (token.copy_id, click.link_index if click is not None else -1)
        if not self.flood.admit(target, address, user_agent):
            self.answered["repeat_not_stored"].inc()  # answered as usual, not queued
            return True
        # The wire form directly (see EdgeHit.to_wire): this runs for every hit.
        hit: dict[str, object] = {
            "v": WIRE_VERSION,
            "id": new_event_id(),
            "k": self.kind_code,
            "c": token.copy_id.hex(),
            "t": time.time(),
            "m": scope.get("method", "GET"),
            "ua": user_agent,
            "ip": address,
        }
        if click is not None:
            hit["l"] = click.link_index
            if click.honeypot:
                hit["hp"] = True
        if credential:
            hit["a"] = credential
        try:
            await handoff.group.submit(hit)
        except Exception as exc:  # the queue is down: say so, the caller decides the answer
            # No traceback: its frames would show the hit (client address) at INFO and above.
            log.error("tracking hit could not be queued: %s", type(exc).__name__)
            self.answered["queue_failed"].inc()
            return False
        self.answered["queued"].inc()
        return True


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _method_not_allowed(send: Send) -> None:
    await _answer(send, 405, [_ALLOWED, (b"content-length", b"0"), *_NO_CACHE], b"")


class PixelEndpoint(_Endpoint):
    """GET/HEAD ``/t/o/{token}.gif``: the same 1x1 GIF for every token."""

    kind = HitKind.OPEN

    async def answer(self, scope: Scope, send: Send, raw: str, *, head: bool) -> None:
        token = self.signer.verify(raw[:-4]) if raw.endswith(".gif") else None
        if not isinstance(token, OpenToken):
            self.answered["invalid"].inc()
        elif not await self._hand_off(scope, token):
            # Answered hits are never lost: without the queue, no pixel either.
            await _answer(
                send, 503, [(b"retry-after", b"30"), (b"content-length", b"0"), *_NO_CACHE], b""
            )
            return
        await _answer(send, 200, _PIXEL_HEADERS, b"" if head else PIXEL_GIF)


class ClickEndpoint(_Endpoint):
    """GET/HEAD ``/t/c/{token}``: 302 to the signed destination, or a static 404 page."""

    kind = HitKind.CLICK

    async def answer(self, scope: Scope, send: Send, raw: str, *, head: bool) -> None:
        token = self.signer.verify(raw)
        location = redirect_location(token.destination) if isinstance(token, ClickToken) else None
        if location is None or not isinstance(token, ClickToken):
            self.answered["invalid"].inc()
            body = b"" if head else _NOT_FOUND_PAGE
            await _answer(send, 404, _NOT_FOUND_HEADERS, body)
            return
        # The person gets where the link leads even if the queue is down (that is logged):
        # a broken link in a sent email would hurt the recipient, not just our figures.
        await self._hand_off(scope, token)
        headers = [
            (b"location", location.encode("ascii")),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
        ]
        await _answer(send, 302, headers, b"")


class TrackingFastPath:
    """ASGI wrapper answering the two tracking paths before ``app`` (the Starlette app).

    The same endpoints as ``tracking_routes``, found by a prefix check instead of
    Starlette's middleware stack and router, which cost more per hit than the
    endpoint itself (see bench/README.md). Everything else, and any request
    under a ``root_path``, goes to ``app`` unchanged.
    """

    def __init__(self, settings: Settings, app: ASGIApp, slot: RuntimeSlot | None = None) -> None:
        self.app = app
        self.pixel = PixelEndpoint(settings, slot)
        self.click = ClickEndpoint(settings, slot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith("/t/o/"):
                await self.pixel.handle(scope, send, path[5:])
                return
            if path.startswith("/t/c/"):
                await self.click.handle(scope, send, path[5:])
                return
        await self.app(scope, receive, send)


def tracking_routes(settings: Settings, slot: RuntimeSlot | None = None) -> list[BaseRoute]:
    """The two routes, for plugin.app's ``plugin_routes`` (mounted first: the hot path)."""
    return [
        Route("/t/o/{token:path}", PixelEndpoint(settings, slot)),
        Route("/t/c/{token:path}", ClickEndpoint(settings, slot)),
    ]
