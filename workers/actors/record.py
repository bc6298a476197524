"""Record tracking hits: thin actors over plugin.tracking.pipeline.ingest.

Hits reach the pipeline through the hit stream and its consumer
(plugin.tracking.pipeline.consumer), not through Dramatiq; ``record_hits`` remains only to
drain batches that an earlier release queued as Dramatiq messages.
``finalise_clicks`` decides clicks held for their burst window. Both are
idempotent, so retries and redeliveries never store or count twice. Retries are
generous: a hit answered at the edge must not be lost to a database restart.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from plugin.runtime import current_runtime
from plugin.tracking.pipeline.held_clicks import decide_held_clicks
from plugin.tracking.pipeline.ingest import ingest_hits

__all__ = ["finalise_clicks", "record_hits"]

_RETRIES = {"max_retries": 100, "min_backoff": 500, "max_backoff": 300_000}


@dramatiq.actor(  # type: ignore[call-overload]
    actor_name="record_hits", queue_name="tracking", **_RETRIES
)
async def record_hits(hits: list[dict[str, Any]], spool_segment: str | None = None) -> None:
    """Classify and store one batch of hits queued by an earlier release."""
    await ingest_hits(hits, current_runtime())


@dramatiq.actor(  # type: ignore[call-overload]
    actor_name="finalise_clicks", queue_name="tracking", **_RETRIES
)
async def finalise_clicks(event_ids: list[str]) -> None:
    """Decide clicks whose burst window has passed."""
    await decide_held_clicks(event_ids, current_runtime().settings)
