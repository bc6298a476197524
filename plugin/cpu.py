"""CPU-bound work of a send, off the event loop, in a pool of worker processes.

Instrumenting an email with thousands of links and deriving its text part take
seconds of pure Python. On the event loop they stall every request of the process
(the tracking pixel first); in a thread they still hold the GIL in turns with the
loop (measured in bench/bench_send_load.py), so they run in separate processes.

The pool is started on first use (spawned children import only what the called
function needs) and shared by every event loop of the process: the server's and
the in-process worker threads'. ``shutdown_cpu_pool`` ends it (the app's lifespan
and the worker's shutdown call it); concurrent.futures also joins it at exit.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

__all__ = ["configure_cpu_pool", "run_cpu", "shutdown_cpu_pool"]

T = TypeVar("T")
PoolKind = Literal["process", "thread", "inline"]

_lock = threading.Lock()
_pool: Executor | None = None
_workers = 2
_kind: PoolKind = "process"


def configure_cpu_pool(workers: int, kind: str = "process") -> None:
    """Set the size and kind of the pool started next.

    ``thread`` and ``inline`` (on the caller's event loop) exist to be measured
    against (bench/bench_loop_guard.py); ``process`` is the one to run.
    """
    global _workers, _kind
    if kind not in ("process", "thread", "inline"):
        raise ValueError(f"unknown CPU pool kind {kind!r}")
    _workers = max(1, workers)
    _kind = kind  # type: ignore[assignment]  # checked just above


def _get_pool() -> Executor:
    global _pool
    with _lock:
        if _pool is None:
            if _kind == "thread":
                _pool = ThreadPoolExecutor(max_workers=_workers, thread_name_prefix="mb-cpu")
            else:
                # spawn, not fork: the parent has threads (workers, Redis, the ORM) that
                # a fork would copy mid-flight.
                _pool = ProcessPoolExecutor(
                    max_workers=_workers, mp_context=multiprocessing.get_context("spawn")
                )
        return _pool


async def run_cpu(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a pool process; its exceptions are raised here.

    ``fn`` and its arguments must pickle (a module-level function, plain data).
    """
    if _kind == "inline":
        return fn(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_pool(), functools.partial(fn, *args, **kwargs))


def shutdown_cpu_pool() -> None:
    """Stop the pool's processes (a later ``run_cpu`` starts a new pool)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
