"""Retention: tracking events older than ``event_retention_days`` are purged.

The aggregates kept on sent emails and links (counts, first and last times) stay:
they are figures of the sender's mail, not records of a person's behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.settings import Settings
from plugin.tracking.models import TrackingEvent

__all__ = ["purge_expired_events", "retention_cutoff"]

# Deleting in slices keeps each statement (and a SQLite write lock) short.
_BATCH = 5000


def retention_cutoff(settings: Settings, now: datetime | None = None) -> datetime:
    """Events that occurred before this moment are past retention."""
    return (now or datetime.now(UTC)) - timedelta(days=settings.event_retention_days)


async def purge_expired_events(settings: Settings, now: datetime | None = None) -> int:
    """Delete every event past retention; return how many were deleted."""
    cutoff = retention_cutoff(settings, now)
    total = 0
    while True:
        ids = (
            await TrackingEvent.filter(occurred_at__lt=cutoff)
            .limit(_BATCH)
            .values_list("id", flat=True)
        )
        if not ids:
            return total
        total += await TrackingEvent.filter(id__in=list(ids)).delete()
