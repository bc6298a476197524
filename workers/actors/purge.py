"""The daily purge of tracking events past retention (``MAILBEACON_EVENT_RETENTION_DAYS``),
a periodic chain (see workers.periodic)."""

from __future__ import annotations

import logging

import dramatiq

from consent.retention import purge_expired_events
from plugin.jobs import JobName
from plugin.runtime import Runtime, current_runtime
from workers.periodic import continue_chain, is_current, start_chain

__all__ = ["PURGE_INTERVAL_MS", "purge_old_events", "start_purge_schedule"]

log = logging.getLogger(__name__)

PURGE_INTERVAL_MS = 24 * 60 * 60 * 1000
_JOB = JobName("purge_old_events", queue="housekeeping")


def start_purge_schedule(runtime: Runtime) -> str:
    """Start a new purge chain (superseding any earlier one) and return its name."""
    return start_chain(runtime, _JOB)


@dramatiq.actor(actor_name="purge_old_events", queue_name="housekeeping", max_retries=0)
async def purge_old_events(chain: str | None = None) -> None:
    """Purge events past retention; within a chain, run again a day later.

    ``chain=None`` is a one-off run (nothing is rescheduled)."""
    settings = current_runtime().settings
    if chain is not None and not await is_current(settings, _JOB, chain):
        return
    try:
        deleted = await purge_expired_events(settings)
        log.info("purged %d tracking event(s) past retention", deleted)
    finally:
        if chain is not None:
            await continue_chain(_JOB, chain, PURGE_INTERVAL_MS)
