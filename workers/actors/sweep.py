"""Every minute, decide held clicks whose finalise message was lost (a periodic chain)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import dramatiq

from plugin.jobs import JobName
from plugin.runtime import Runtime, current_runtime
from plugin.tracking.pipeline.held_clicks import decide_held_clicks, stale_pending_clicks
from workers.periodic import continue_chain, is_current, start_chain

__all__ = ["SWEEP_INTERVAL_MS", "start_sweep_schedule", "sweep_pending_clicks"]

log = logging.getLogger(__name__)

SWEEP_INTERVAL_MS = 60_000
# A finalise message normally arrives one burst window (plus a little) after the click.
_GRACE = timedelta(minutes=1)
_JOB = JobName("sweep_pending_clicks", queue="housekeeping")


def start_sweep_schedule(runtime: Runtime) -> str:
    return start_chain(runtime, _JOB)


@dramatiq.actor(actor_name="sweep_pending_clicks", queue_name="housekeeping", max_retries=0)
async def sweep_pending_clicks(chain: str | None = None) -> None:
    """Finalise clicks held longer than their burst window and a minute's grace."""
    settings = current_runtime().settings
    if chain is not None and not await is_current(settings, _JOB, chain):
        return
    try:
        cutoff = datetime.now(UTC) - timedelta(seconds=settings.burst_window_seconds) - _GRACE
        stale = await stale_pending_clicks(cutoff)
        if stale:
            decided = await decide_held_clicks(stale, settings)
            log.warning("swept %d held click(s) whose finalise message was lost", len(decided))
    finally:
        if chain is not None:
            await continue_chain(_JOB, chain, SWEEP_INTERVAL_MS)
