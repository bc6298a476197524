"""graphql-transport-ws as mailbeacon serves it: keep-alive pings, projected event batches.

A subscription resolver may hand several events at once as a ``ProjectedBatch``
(graphql_schema.projection) when the context says the transport takes them
(``BATCHES``). This handler says so when the schema's executor passes batches on
(``EventScopedExecutionContext``; a host's own schema may use another), and sends
such a result as one ``next`` message per event, in order: exactly the messages full
execution of each event would send (``{"id", "type": "next", "payload": {"data":
{key: value}}}``, encoded as strawberry encodes every message). The envelope around
the values is encoded once per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from graphql_schema.execution import EventScopedExecutionContext
from graphql_schema.keepalive import KeepAliveTransportWSHandler
from graphql_schema.projection import BATCHES, ProjectedBatch

__all__ = ["LiveTransportWSHandler", "next_frames", "passes_batches"]

# strawberry's encode_json: json.dumps(data, separators=(",", ":")); one encoder, reused.
_encode = json.JSONEncoder(separators=(",", ":")).encode


class LiveTransportWSHandler(KeepAliveTransportWSHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.context, dict) and passes_batches(self.schema):
            self.context[BATCHES] = True

    async def send_message(self, message: Message) -> None:
        payload = cast(dict[str, Any], message).get("payload")
        if message["type"] == "next" and isinstance(payload, dict):
            batch = payload.get("data")
            if isinstance(batch, ProjectedBatch):
                await self._send_batch(message["id"], batch, payload)
                return
        await super().send_message(message)

    async def _send_batch(
        self, operation_id: str, batch: ProjectedBatch, payload: dict[str, Any]
    ) -> None:
        rest = {name: value for name, value in payload.items() if name != "data"}
        if rest:  # extensions' results (none of ours give any): the generic path
            for item in batch.items:
                await super().send_message(cast(Message, {
                    "id": operation_id, "type": "next",
                    "payload": {"data": {batch.key: item}, **rest},
                }))
            return
        websocket = cast(ASGIWebSocketAdapter, self.websocket).ws
        for frame in next_frames(operation_id, batch):
            try:
                await websocket.send_text(frame)
            except WebSocketDisconnect as exc:  # as strawberry's adapter reports it
                raise WebSocketDisconnected from exc


def passes_batches(schema: BaseSchema) -> bool:
    """Whether ``schema`` executes with an executor that hands a ``ProjectedBatch`` on."""
    executor = getattr(schema, "execution_context_class", None)
    return isinstance(executor, type) and issubclass(executor, EventScopedExecutionContext)


def next_frames(operation_id: str, batch: ProjectedBatch) -> Iterator[str]:
    """The ``next`` messages of a batch's events, as strawberry encodes each message."""
    head = f'{{"id":{_encode(operation_id)},"type":"next","payload":{{"data":{{' \
        f"{_encode(batch.key)}:"
    for item in batch.items:
        yield head + _encode(item) + "}}}"
