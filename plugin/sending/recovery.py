"""Copies whose send job was lost: re-enqueue the waiting ones, settle the interrupted ones.

A job can be lost: the embedded queue lives in memory and goes with a restart,
and a retry's enqueue can fail after the copy went back to QUEUED. A copy is
then left QUEUED (or, if its worker died mid-send, SENDING) with nothing to move
it. A periodic sweep (``workers.actors.send``) finds them:

- QUEUED with its attempt due more than ``LOST_AFTER`` ago: enqueued again.
  A duplicate job is harmless: only the job whose claim succeeds sends.
- SENDING with a claim older than ``CLAIM_LEASE``: its worker died. Never
  handed to SMTP: back to QUEUED and enqueued (retried as a temporary failure
  is); handed: FAILED as interrupted. A redelivered job does the same (see
  plugin.sending.send_job.expire_claim, and why a handed copy is not resent).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.jobs import enqueue_async
from plugin.sending import repository
from plugin.sending.models import EmailStatus
from plugin.sending.send_job import CLAIM_LEASE, expire_claim
from plugin.sending.service import SEND_COPY
from plugin.settings import Settings
from plugin.transaction import transaction

__all__ = ["LOST_AFTER", "recover_lost_copies"]

# Well beyond the queue's normal lag, so that a long backlog is not enqueued twice.
LOST_AFTER = timedelta(minutes=5)
BATCH = 500


async def recover_lost_copies(
    settings: Settings, now: datetime | None = None
) -> tuple[int, int]:
    """Re-enqueue lost QUEUED copies and settle SENDING ones whose lease ran out; return
    how many were enqueued again (lost or never handed) and how many failed interrupted."""
    now = now or datetime.now(UTC)
    lost = await repository.lost_copy_ids(now - LOST_AFTER, BATCH)
    if lost:
        # Due again one grace later: the next sweep leaves them to the jobs enqueued here,
        # which go out once that is committed.
        async with transaction():
            await repository.reschedule_copies(lost, now)
            for copy_id in lost:
                await enqueue_async(SEND_COPY, copy_id)
    interrupted = await repository.expired_claims(now - CLAIM_LEASE, BATCH)
    requeued = failed = 0
    for copy in interrupted:
        status = await expire_claim(copy, now, settings)
        requeued += status == EmailStatus.QUEUED
        failed += status == EmailStatus.FAILED
    return len(lost) + requeued, failed
