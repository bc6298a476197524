"""Enqueue work for the Dramatiq actors by declared name, held until the transaction ends.

Domain code never imports the workers package: it refers to an actor through a
``JobName`` (its name and queue), declared at module level where the job is
sent. Every ``JobName`` is recorded, and ``check_jobs`` (run at start-up by
plugin.composition, in ``serve`` and in ``worker``) fails with ``UnknownJobError``
when one names no actor of the broker or the wrong queue, instead of Dramatiq's
``ActorNotFound`` at send time.

Inside ``transaction()`` (plugin.transaction) an enqueue is *held*: the jobs go
out in order once the outermost transaction has committed, and are dropped when
it rolls back (a nested transaction's jobs join its parent's, or go with its
savepoint). Outside any transaction an enqueue sends at once: the request is no
transaction here (each service opens its own), and a job enqueued outside one
depends on nothing uncommitted.

On Redis, Dramatiq's ``send`` is a blocking call, so the async variants move it off
the event loop, onto one thread of this module's own: every enqueue from async code
then shares one connection of the broker's pool. Through the loop's default executor
instead (up to six threads here), a burst of enqueues (the bell's, a token's last use,
held clicks) took a connection per thread busy at once from that unbounded pool and
kept it: one more at each new peak. Held jobs make one trip to that thread together.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ActorNotFound

from plugin.errors import UnknownJobError

__all__ = [
    "JobName",
    "check_jobs",
    "enqueue",
    "enqueue_async",
    "held_jobs",
    "referenced_jobs",
]

# Started on first use; concurrent.futures joins it at exit.
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mb-enqueue")


class JobName:
    """A reference to the actor ``name`` on ``queue``; recorded so that start-up checks it."""

    __slots__ = ("name", "queue", "referred_by")

    def __init__(self, name: str, *, queue: str) -> None:
        self.name = name
        self.queue = queue
        # The module declaring it: named in the start-up error.
        self.referred_by = str(sys._getframe(1).f_globals.get("__name__", "?"))
        _referenced.append(self)

    def __repr__(self) -> str:
        return f"JobName({self.name!r}, queue={self.queue!r})"


_referenced: list[JobName] = []


def referenced_jobs() -> list[JobName]:
    """Every ``JobName`` declared so far in this process."""
    return list(_referenced)


def check_jobs(broker: dramatiq.Broker, jobs: Iterable[JobName] | None = None) -> None:
    """Raise ``UnknownJobError`` naming every reference (default: all declared so far) to
    an actor that ``broker`` lacks or declares on another queue."""
    problems = []
    for job in referenced_jobs() if jobs is None else jobs:
        try:
            actor = broker.get_actor(job.name)
        except ActorNotFound:
            problems.append(
                f"{job.referred_by} refers to the job {job.name!r}: no actor has that name"
            )
            continue
        if actor.queue_name != job.queue:
            problems.append(
                f"{job.referred_by} refers to the job {job.name!r} on the queue {job.queue!r}: "
                f"its actor is on {actor.queue_name!r}"
            )
    if problems:
        raise UnknownJobError(problems)


_Job = tuple[JobName, tuple[Any, ...], int | None]


class _Held:
    """The jobs of one open transaction, in the order they were enqueued."""

    __slots__ = ("jobs", "open")

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.open = True


_held: ContextVar[_Held | None] = ContextVar("mailbeacon_held_jobs", default=None)


def _holding() -> _Held | None:
    held = _held.get()
    # A task started inside a transaction inherits its scope and may outlive it: once the
    # transaction has ended, its enqueues send at once, as outside any.
    return held if held is not None and held.open else None


@asynccontextmanager
async def held_jobs() -> AsyncIterator[None]:
    """Hold what is enqueued inside until the block ends: sent (or handed to an enclosing
    block) when it ends normally, dropped when it raises. ``plugin.transaction`` wraps a
    database transaction in it; a send that fails after the commit raises here."""
    parent = _holding()
    held = _Held()
    token = _held.set(held)
    try:
        yield
    except BaseException:
        held.open = False
        held.jobs.clear()
        raise
    finally:
        _held.reset(token)
    held.open = False
    if parent is not None:
        parent.jobs.extend(held.jobs)
    elif held.jobs:
        await _send_async(held.jobs)


def _send(jobs: list[_Job]) -> None:
    broker = dramatiq.get_broker()
    for job, args, delay_ms in jobs:
        broker.get_actor(job.name).send_with_options(args=args, delay=delay_ms)


async def _send_async(jobs: list[_Job]) -> None:
    if isinstance(dramatiq.get_broker(), StubBroker):
        _send(jobs)
    else:
        await asyncio.wrap_future(_sender.submit(_send, jobs))


def enqueue(job: JobName, *args: Any, delay_ms: int | None = None) -> None:
    """Send ``job(*args)``, or hold it until the enclosing transaction ends."""
    held = _holding()
    if held is not None:
        held.jobs.append((job, args, delay_ms))
    else:
        _send([(job, args, delay_ms)])


async def enqueue_async(job: JobName, *args: Any, delay_ms: int | None = None) -> None:
    """``enqueue`` for async code: a send happens on this module's sender thread."""
    held = _holding()
    if held is not None:
        held.jobs.append((job, args, delay_ms))
    else:
        await _send_async([(job, args, delay_ms)])
