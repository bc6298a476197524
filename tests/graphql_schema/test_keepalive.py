"""Subscriptions stay alive: the server pings graphql-transport-ws clients."""

from __future__ import annotations

import asyncio
import json

import pytest

from graphql_schema.keepalive import KeepAliveTransportWSHandler
from tests.conftest import UserFactory
from tests.live.wsclient import GraphQLWS


async def test_the_server_pings_an_idle_subscriber(
    server: str, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KeepAliveTransportWSHandler, "keepalive_seconds", 0.1)
    user = await make_user()
    async with await GraphQLWS.connect(server, user.token) as client:
        await client.subscribe("subscription { notifications { id } }")
        raw = await asyncio.wait_for(client.ws.recv(), 5)
        assert json.loads(raw)["type"] == "ping"
        await client.ws.send(json.dumps({"type": "pong"}))
        # Still subscribed and silent after answering.
        assert await client.silent_for(0.05)
