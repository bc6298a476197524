"""Record tracking hits: thin actors over plugin.tracking.ingest.

``record_hits`` takes one batch handed over by the edge (many hits per message);
``finalise_clicks`` decides clicks held for their burst window. Both are
idempotent, so retries and redeliveries never store or count twice. Retries are
generous: a hit answered at the edge must not be lost to a database restart.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from plugin.tracking.finalise import finalise_clicks as finalise
from plugin.tracking.handoff import QUEUE_NAME, acknowledge
from plugin.tracking.ingest import ingest_hits

__all__ = ["finalise_clicks", "record_hits"]

_RETRIES = {"max_retries": 100, "min_backoff": 500, "max_backoff": 300_000}


@dramatiq.actor(queue_name=QUEUE_NAME, **_RETRIES)  # type: ignore[call-overload]
async def record_hits(hits: list[dict[str, Any]], spool_segment: str | None = None) -> None:
    """Classify and store one batch of hits; then let the embedded spool forget it."""
    await ingest_hits(hits)
    acknowledge(spool_segment)


@dramatiq.actor(queue_name=QUEUE_NAME, **_RETRIES)  # type: ignore[call-overload]
async def finalise_clicks(event_ids: list[str]) -> None:
    """Decide clicks whose burst window has passed."""
    await finalise(event_ids)
