"""Enqueue work for the Dramatiq actors by name, without importing the workers package.

Services decide *what* to do later; the broker configured for this process
decides where it runs. On Redis, Dramatiq's ``send`` is a blocking call, so the
async variant moves it off the event loop, onto one thread of this module's own:
every enqueue from async code then shares one connection of the broker's pool.
Through the loop's default executor instead (up to six threads here), a burst of
enqueues (the bell's, a token's last use, held clicks) took a connection per thread
busy at once from that unbounded pool and kept it: one more at each new peak.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

__all__ = ["enqueue", "enqueue_async"]

# Started on first use; concurrent.futures joins it at exit.
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mb-enqueue")


def enqueue(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    broker = dramatiq.get_broker()
    actor = broker.get_actor(actor_name)
    actor.send_with_options(args=args, delay=delay_ms)


async def enqueue_async(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    if isinstance(dramatiq.get_broker(), StubBroker):
        enqueue(actor_name, *args, delay_ms=delay_ms)
    else:
        await asyncio.wrap_future(_sender.submit(enqueue, actor_name, *args, delay_ms=delay_ms))
