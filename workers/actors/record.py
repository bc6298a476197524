"""Record tracking hits: thin actors over plugin.tracking.ingest.

``record_hits`` takes one batch handed over by the edge (many hits per message);
``finalise_clicks`` decides clicks held for their burst window. Both are
idempotent, so retries and redeliveries never store or count twice. Retries are
generous: a hit answered at the edge must not be lost to a database restart.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dramatiq

from plugin.observability.metrics import observe_ingest, observe_queue_lag
from plugin.tracking.finalise import finalise_clicks as finalise
from plugin.tracking.handoff import QUEUE_NAME, acknowledge
from plugin.tracking.ingest import ingest_hits

__all__ = ["finalise_clicks", "record_hits"]

log = logging.getLogger(__name__)

_RETRIES = {"max_retries": 100, "min_backoff": 500, "max_backoff": 300_000}


@dramatiq.actor(queue_name=QUEUE_NAME, **_RETRIES)  # type: ignore[call-overload]
async def record_hits(hits: list[dict[str, Any]], spool_segment: str | None = None) -> None:
    """Classify and store one batch of hits; then let the embedded spool forget it."""
    started = time.perf_counter()
    occurred = [hit.get("t") for hit in hits if isinstance(hit, dict)]
    times = [t for t in occurred if isinstance(t, int | float)]
    if times:
        observe_queue_lag(time.time() - min(times))
    await ingest_hits(hits)
    acknowledge(spool_segment)
    observe_ingest(time.perf_counter() - started)
    log.info("recorded a batch of %d tracking hit(s)", len(hits))


@dramatiq.actor(queue_name=QUEUE_NAME, **_RETRIES)  # type: ignore[call-overload]
async def finalise_clicks(event_ids: list[str]) -> None:
    """Decide clicks whose burst window has passed."""
    await finalise(event_ids)
