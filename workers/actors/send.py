"""Send one copy of an email, and sweep copies whose job was lost (see plugin.sending)."""

from __future__ import annotations

import logging

import dramatiq

from plugin.jobs import JobName
from plugin.runtime import Runtime, current_runtime
from plugin.sending.recovery import recover_lost_copies
from plugin.sending.send_job import deliver_copies, deliver_copy
from workers.periodic import continue_chain, is_current, start_chain

__all__ = [
    "send_email_copies",
    "send_email_copy",
    "start_send_sweep_schedule",
    "sweep_send_queue",
]

log = logging.getLogger(__name__)

SWEEP_INTERVAL_MS = 60_000
_SWEEP_JOB = JobName("sweep_send_queue", queue="housekeeping")


@dramatiq.actor(
    actor_name="send_email_copy", queue_name="send",
    max_retries=60, min_backoff=1_000, max_backoff=60_000,
)
async def send_email_copy(copy_id: int) -> None:
    """Deliver the copy ``copy_id``.

    Temporary delivery failures are not exceptions: deliver_copy schedules the
    next attempt itself (SEND_RETRY_SECONDS). What escapes (the database away
    before the claim) is retried by Dramatiq; once the copy is claimed nothing
    does (see deliver_copy), so a retry never resends.
    """
    await deliver_copy(copy_id, current_runtime().settings)


@dramatiq.actor(
    actor_name="send_email_copies", queue_name="send",
    max_retries=60, min_backoff=1_000, max_backoff=60_000,
)
async def send_email_copies(copy_ids: list[int]) -> None:
    """Deliver the copies ``copy_ids`` of one send together (see deliver_copies); what
    fails temporarily is retried one copy at a time by send_email_copy. Retried by
    Dramatiq as send_email_copy is: each copy's claim makes a retry harmless."""
    await deliver_copies(copy_ids, current_runtime().settings)


def start_send_sweep_schedule(runtime: Runtime) -> str:
    return start_chain(runtime, _SWEEP_JOB)


@dramatiq.actor(actor_name="sweep_send_queue", queue_name="housekeeping", max_retries=0)
async def sweep_send_queue(chain: str | None = None) -> None:
    """Every minute: re-enqueue copies whose job was lost or whose worker died before
    sending them, fail interrupted ones."""
    settings = current_runtime().settings
    if chain is not None and not await is_current(settings, _SWEEP_JOB, chain):
        return
    try:
        requeued, interrupted = await recover_lost_copies(settings)
        if requeued or interrupted:
            log.warning("send sweep: %d lost or never-sent copy job(s) enqueued again, %d "
                        "interrupted copy(ies) failed", requeued, interrupted)
    finally:
        if chain is not None:
            await continue_chain(_SWEEP_JOB, chain, SWEEP_INTERVAL_MS)
