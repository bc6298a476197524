"""A tiny graphql-transport-ws client over the real ``websockets`` package, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["GraphQLWS", "Rejected"]

PROTOCOL = "graphql-transport-ws"


class Rejected(Exception):
    """The server closed the connection instead of acknowledging it."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code


class GraphQLWS:
    """connection_init -> connection_ack -> subscribe -> next/complete; answers pings."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ack_payload: dict[str, Any] | None = None

    @classmethod
    async def connect(
        cls, http_url: str, token: str | None, *, payload: dict[str, Any] | None = None
    ) -> GraphQLWS:
        url = http_url.replace("http://", "ws://").rstrip("/") + "/graphql"
        ws = await websockets.connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        client = cls(ws)
        init = payload if payload is not None else (
            {"Authorization": f"Bearer {token}"} if token else {}
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        try:
            message = await client._receive(10)
        except websockets.ConnectionClosed as exc:
            received = exc.rcvd
            raise Rejected(received.code if received else None,
                           received.reason if received else "") from None
        if message.get("type") != "connection_ack":
            raise AssertionError(f"expected connection_ack, got {message}")
        client.ack_payload = message.get("payload")
        return client

    async def _receive(self, timeout: float) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message.get("type") == "pong":
                continue
            return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = uuid.uuid4().hex
        await self.ws.send(json.dumps({
            "id": op_id, "type": "subscribe",
            "payload": {"query": query, "variables": variables or {}},
        }))
        return op_id

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next message for any operation (``next``, ``error`` or ``complete``)."""
        return await self._receive(timeout)

    async def next_data(self, timeout: float = 10) -> dict[str, Any]:
        message = await self.next(timeout)
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def silent_for(self, seconds: float) -> bool:
        """True when nothing arrives within ``seconds``."""
        try:
            message = await self._receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected silence, got {message}")

    async def complete(self, op_id: str) -> None:
        await self.ws.send(json.dumps({"id": op_id, "type": "complete"}))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def __aenter__(self) -> GraphQLWS:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
