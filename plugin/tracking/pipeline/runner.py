"""Running the hit consumer in a process: on the Dramatiq worker's event loop, with its ORM.

The consumer shares the loop (and the Tortoise context) that the worker's async
actors use, so everything it calls after commit (live publishing, enqueueing
notifications, the SELF store on Redis) behaves exactly as in an actor.
Embedded, ``serve`` runs it next to its in-process workers; distributed,
``mailbeacon worker`` runs one per process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from dataclasses import dataclass

from dramatiq.asyncio import get_event_loop_thread
from redis.asyncio import Redis
from tortoise.context import TortoiseContext

from plugin.runtime import Runtime
from plugin.tracking.edge.hit_stream import StreamSource, stream_key
from plugin.tracking.pipeline.consumer import HitConsumer, HitSource
from plugin.tracking.pipeline.ingest import ingest_hits

__all__ = ["RunningConsumer", "start_consumer"]

log = logging.getLogger("mailbeacon.pipeline")


@dataclass
class RunningConsumer:
    consumer: HitConsumer
    future: concurrent.futures.Future[None]

    def stop(self, timeout: float = 30.0) -> None:
        """Finish and acknowledge the batch in hand, return unrecorded work, then return."""
        self.consumer.stop()
        try:
            self.future.result(timeout)
        except concurrent.futures.TimeoutError:
            log.error("the hit consumer did not stop within %.0f s", timeout)
            self.future.cancel()
        except Exception:
            log.exception("the hit consumer failed")


def start_consumer(runtime: Runtime, orm_context: TortoiseContext) -> RunningConsumer:
    """Start consuming hits on the event loop of this process's (started) Dramatiq worker,
    in ``orm_context``: the Tortoise context the worker opened on that loop (the
    composition root finds it: workers.middleware.worker_orm_context)."""
    loop_thread = get_event_loop_thread()
    if loop_thread is None:
        raise RuntimeError("the AsyncIO middleware's loop is not running")
    ctx = orm_context
    settings = runtime.settings
    redis: Redis | None = None
    source: HitSource
    if settings.embedded:
        local = runtime.handoff.local if runtime.handoff is not None else None
        if local is None:
            raise RuntimeError("start the hand-off before the consumer")
        source = local
    else:
        assert settings.redis_url is not None
        # A client of its own, used only on the worker loop (connections belong to a loop).
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        source = StreamSource(redis, stream_key(settings))
    consumer = HitConsumer(source, functools.partial(ingest_hits, runtime=runtime))

    async def run() -> None:
        # Current in this task only (as the middleware does per worker thread; never left,
        # since TortoiseContext keeps one reset token for all threads).
        ctx.__enter__()
        try:
            await consumer.run()
            if isinstance(source, StreamSource):
                try:
                    await source.retire()
                except Exception as exc:  # Redis down at shutdown: the group keeps a stale name
                    log.warning("leaving the hit stream's group failed: %s", exc)
        finally:
            if redis is not None:
                await redis.aclose()

    future = asyncio.run_coroutine_threadsafe(run(), loop_thread.loop)
    return RunningConsumer(consumer, future)
