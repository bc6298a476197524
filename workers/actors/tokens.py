"""Record when an API token was last used, off the request path."""

from __future__ import annotations

from datetime import datetime

import dramatiq

from plugin.accounts import repository

__all__ = ["touch_token"]


@dramatiq.actor(
    actor_name="touch_token", queue_name="housekeeping",
    max_retries=3, min_backoff=500, max_backoff=10_000,
)
async def touch_token(token_id: int, seen_at: str) -> None:
    """Set last_seen_at, never moving it backwards (messages may arrive out of order)."""
    await repository.record_token_seen(token_id, datetime.fromisoformat(seen_at))
