"""Server keep-alive pings for graphql-transport-ws.

strawberry answers a client's ``ping`` but sends none of its own on this
protocol, and not every ASGI server pings at the WebSocket level (granian does
not). A ``ping`` every interval keeps proxies from closing idle subscriptions;
a client that stops reading is dropped by the server's send buffer, not by us.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

__all__ = ["KEEPALIVE_SECONDS", "KeepAliveTransportWSHandler"]

KEEPALIVE_SECONDS = 15.0


class KeepAliveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    keepalive_seconds = KEEPALIVE_SECONDS

    async def handle(self) -> None:
        pinger = asyncio.create_task(self._ping_forever())
        try:
            await super().handle()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            if not self.connection_acknowledged:
                continue
            try:
                await self.websocket.send_json({"type": "ping", "payload": {"keepalive": True}})
            except (WebSocketDisconnected, RuntimeError, OSError):
                return
