"""The ASGI GraphQL endpoint: authentication first, bounded bodies, graphql-transport-ws only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graphql_schema.context import Context, authenticate, bearer_token
from graphql_schema.graphiql import graphiql_page
from graphql_schema.ws_transport import LiveTransportWSHandler
from plugin.db import database_unavailable
from plugin.errors import ErrorCode
from plugin.net import client_address
from plugin.runtime import RuntimeSlot, process_slot
from plugin.settings import Settings

__all__ = ["GraphQLEndpoint"]

log = logging.getLogger(__name__)

# Called after every authenticated API request: (user_id, client_ip, user_agent).
ClientObserver = Callable[[int, str, str], Any]


def _error_response(status: int, code: ErrorCode, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "10"}
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]},
        status_code=status,
        headers=headers,
    )


class GraphQLEndpoint(GraphQL[Context, None]):
    """strawberry's ASGI view with mailbeacon's rules.

    - Every HTTP request is authenticated before GraphQL runs; without a valid token
      the answer is one UNAUTHENTICATED error and nothing else.
    - Request bodies are bounded before they are parsed.
    - WebSocket clients authenticate in connection_init; the legacy graphql-ws
      protocol is off (clients offering both would otherwise land on it); the server
      pings every KEEPALIVE_SECONDS and sends projected event batches event by event.
    """

    graphql_transport_ws_handler_class = LiveTransportWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        settings: Settings,
        *,
        client_observer: ClientObserver | None = None,
        slot: RuntimeSlot | None = None,
    ) -> None:
        """``slot``: where the composition root puts the started runtime (this process's
        unless given); the request context carries it to the subscriptions (the live bus)."""
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.env == "development" else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings
        self.client_observer = client_observer
        self.slot = slot if slot is not None else process_slot()
        # JSON escaping can double an HTML body; leave room for the rest of the request.
        self.max_request_bytes = settings.max_body_bytes * 2 + settings.graphql_max_query_bytes

    async def render_graphql_ide(self, request: Request) -> Response:
        # strawberry's page loads React and GraphiQL from a CDN; ours serves them itself.
        return graphiql_page()

    def _client(self, scope: Scope) -> str:
        return client_address(scope, self.settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if self._wants_ide(request):
            await super().__call__(scope, receive, send)
            return
        body = await self._bounded_body(request)
        if body is None:
            await _error_response(
                413, ErrorCode.REQUEST_TOO_LARGE,
                f"the request body exceeds {self.max_request_bytes} bytes",
            )(scope, receive, send)
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            await _error_response(
                400, ErrorCode.BAD_REQUEST, "the request body is not valid UTF-8"
            )(scope, receive, send)
            return
        token = bearer_token(request.headers.get("authorization"))
        try:
            user = await authenticate(request, token)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # A GraphQL answer the client can act on, not a bare 500 and a traceback.
            log.warning("GraphQL request refused: the database is unavailable (%s)",
                        type(exc).__name__)
            await _error_response(
                503, ErrorCode.DATABASE_UNAVAILABLE,
                "the database is unavailable; try again shortly",
            )(scope, receive, send)
            return
        if user is None:
            message = "a valid API token is required (Authorization: Bearer <token>)"
            await _error_response(401, ErrorCode.UNAUTHENTICATED, message)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self._observe(user.id, scope, request.headers.get("user-agent", ""))
        await super().__call__(scope, _replay(body), send)

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _bounded_body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_request_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_request_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _observe(self, user_id: int, scope: Scope, user_agent: str) -> None:
        if self.client_observer is not None:
            result = self.client_observer(user_id, self._client(scope), user_agent)
            if hasattr(result, "__await__"):
                await result

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        user = request.scope.get("state", {}).get("user")
        return {
            "request": request,
            "response": response,
            "user": user,
            "settings": self.settings,
            "runtime_slot": self.slot,
            "client_ip": self._client(request.scope),
        }

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.get("connection_params")
        raw = (
            params.get("Authorization") or params.get("authorization")
            if isinstance(params, dict)
            else None
        )
        websocket: WebSocket = context["request"]
        user = await authenticate(websocket, bearer_token(raw if isinstance(raw, str) else None))
        if user is None:
            raise ConnectionRejectionError({"message": "a valid API token is required"})
        context["user"] = user
        await self._observe(user.id, websocket.scope, websocket.headers.get("user-agent", ""))
        return {"userId": str(user.id)}


def _replay(body: bytes) -> Receive:
    """A receive callable that hands the already-read body to strawberry once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
