"""Enqueue work for the Dramatiq actors by name, without importing the workers package.

Services decide *what* to do later; the broker configured for this process
decides where it runs. On Redis, Dramatiq's ``send`` is a blocking call, so the
async variant moves it off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

__all__ = ["enqueue", "enqueue_async"]


def enqueue(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    broker = dramatiq.get_broker()
    actor = broker.get_actor(actor_name)
    actor.send_with_options(args=args, delay=delay_ms)


async def enqueue_async(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    if isinstance(dramatiq.get_broker(), StubBroker):
        enqueue(actor_name, *args, delay_ms=delay_ms)
    else:
        await asyncio.to_thread(enqueue, actor_name, *args, delay_ms=delay_ms)
