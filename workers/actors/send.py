"""Send one copy of an email (see plugin.sending.dispatch for the delivery rules)."""

from __future__ import annotations

import dramatiq

from plugin.runtime import current_runtime
from plugin.sending.dispatch import MAX_ATTEMPTS, deliver_copy

__all__ = ["MAX_BACKOFF_MS", "MIN_BACKOFF_MS", "send_email_copy"]

MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60 * 1_000


@dramatiq.actor(
    queue_name="send",
    max_retries=MAX_ATTEMPTS - 1,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
)
async def send_email_copy(copy_id: int) -> None:
    """Deliver the copy ``copy_id``.

    Raises RetryDelivery on a temporary failure and lets errors before the claim
    (the database away) through: Dramatiq retries both with backoff. Once the copy
    is claimed, nothing else escapes (see deliver_copy), so a retry never resends.
    """
    await deliver_copy(copy_id, current_runtime().settings)
