"""Dramatiq middleware that opens Tortoise on the worker's own event loop (and closes it with
the SMTP connections made there).

Async actors run on one event-loop thread per worker process (the AsyncIO
middleware). Tortoise connections belong to the loop that made them, so the
worker opens its own context there, without the process-wide global fallback
that the ASGI app may already hold, and enters it in every worker thread:
``run_coroutine_threadsafe`` copies the thread's contextvars into the actor task.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread
from dramatiq.middleware import Middleware
from tortoise.context import TortoiseContext

from plugin.db import tortoise_config
from plugin.sending.smtp_pool import close_pools
from plugin.settings import Settings

__all__ = ["OrmMiddleware", "worker_orm_context"]

log = logging.getLogger(__name__)


def _loop_thread() -> EventLoopThread:
    thread = get_event_loop_thread()
    if thread is None:
        raise dramatiq.middleware.MiddlewareError(
            "the AsyncIO middleware must come before OrmMiddleware"
        )
    return thread


class OrmMiddleware(Middleware):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx: TortoiseContext | None = None
        self._lock = threading.Lock()
        self._running_threads = 0

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Not after_worker_boot: worker threads start consuming before that fires.
        ctx = TortoiseContext()
        config = tortoise_config(self.settings)

        async def init() -> None:
            with ctx:
                await ctx.init(config=config)

        _loop_thread().run_coroutine(init())
        self.ctx = ctx

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        if self.ctx is not None:
            self.ctx.__enter__()
            with self._lock:
                self._running_threads += 1

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        # Close the connections when the last worker thread has finished its message,
        # not at before_worker_shutdown: messages still running then would find the
        # database closed ("pool is closing", "DB configuration not initialised").
        # The AsyncIO loop is stopped later, at after_worker_shutdown.
        with self._lock:
            self._running_threads -= 1
            last = self._running_threads == 0
        if last and self.ctx is not None:
            try:
                _loop_thread().run_coroutine(self.ctx.close_connections())
            except Exception:  # shutting down: log and go on
                log.exception("closing the worker's database connections failed")
        if last:
            # The send actor's SMTP connections live on the same loop (QUIT, then close).
            try:
                _loop_thread().run_coroutine(close_pools())
            except Exception:
                log.exception("closing the worker's SMTP connections failed")


def worker_orm_context(broker: dramatiq.Broker) -> TortoiseContext:
    """The Tortoise context that ``broker``'s started worker opened on its event loop (the
    hit consumer runs there too)."""
    for middleware in broker.middleware:
        if isinstance(middleware, OrmMiddleware) and middleware.ctx is not None:
            return middleware.ctx
    raise RuntimeError("the worker's ORM is not open: start the Dramatiq worker first")
