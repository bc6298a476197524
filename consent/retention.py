"""Retention: tracking events older than ``event_retention_days`` are purged.

The aggregates kept on sent emails and links (counts, first and last times) stay:
they are figures of the sender's mail, not records of a person's behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent import repository
from consent.signing import FORM_MAX_AGE_SECONDS
from plugin.settings import Settings

__all__ = ["purge_expired_events", "purge_spent_consent_bookkeeping", "retention_cutoff"]

# Deleting in slices keeps each statement (and a SQLite write lock) short.
_BATCH = 5000


def retention_cutoff(settings: Settings, now: datetime | None = None) -> datetime:
    """Events that occurred before this moment are past retention."""
    return (now or datetime.now(UTC)) - timedelta(days=settings.event_retention_days)


async def purge_spent_consent_bookkeeping(now: datetime | None = None) -> None:
    """Forget used form nonces once their forms have expired anyway, and personal-link mails
    once their day (the rate limit's key) is over."""
    moment = now or datetime.now(UTC)
    await repository.purge_bookkeeping(
        forms_used_before=moment - timedelta(seconds=2 * FORM_MAX_AGE_SECONDS),
        links_mailed_before=moment - timedelta(days=2),
    )


async def purge_expired_events(settings: Settings, now: datetime | None = None) -> int:
    """Delete every event past retention (and the consent bookkeeping that can no longer
    matter); return how many events were deleted."""
    await purge_spent_consent_bookkeeping(now)
    return await repository.purge_events_before(retention_cutoff(settings, now), slice_size=_BATCH)
