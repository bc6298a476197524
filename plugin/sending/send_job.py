"""Delivering one copy, exactly as the send actor does it: claim, build, send, record.

Delivery is *at most once* per copy. Before talking to the mail server the
copy is claimed with a conditional UPDATE (QUEUED -> SENDING, attempts + 1);
only the worker whose UPDATE changed the row sends. A redelivered job finds
the copy SENT or FAILED and does nothing, or SENDING:

- claimed less than ``CLAIM_LEASE`` ago: another worker is on it; do nothing;
- claimed longer ago: its worker died. Right before a group of copies goes to
  the SMTP pool, the worker marks them handed (``handed_at``, one committed
  UPDATE per group, fenced on its own claim). A copy never handed cannot have
  reached a server: it goes back to QUEUED and is retried as a temporary
  failure is. A handed copy may or may not be at the server, and a duplicate
  in the recipient's inbox is worse than an error the user can see and act
  on, so it ends FAILED ("interrupted") instead of being sent again.

Temporary failures (4xx, the server unreachable) put the copy back to QUEUED
with its next attempt due after the next wait of ``SEND_RETRY_SECONDS`` and
enqueue that attempt; the copy (and its email) stays QUEUED or SENDING while it
waits. The first temporary failure fixes ``retry_until`` (``SEND_GIVE_UP_HOURS``
later); a temporary failure after that ends the copy FAILED. Permanent
failures (5xx) end it FAILED at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TypeVar

from plugin.cpu import run_cpu
from plugin.hooks import registry
from plugin.jobs import enqueue_async
from plugin.observability.logs import redact_addresses
from plugin.observability.metrics import record_copy_sent
from plugin.sending import repository
from plugin.sending.copies import CopyToBuild, EmailToBuild, build_clean_copy, build_copies
from plugin.sending.delivery import (
    DeliveryResult,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.sending.service import SEND_COPY
from plugin.sending.transport import Route, file_sent_copy, route_for, send_many_through
from plugin.sending.wire import Flat
from plugin.settings import Settings
from plugin.transaction import transaction

__all__ = [
    "CLAIM_LEASE",
    "INTERRUPTED",
    "deliver_copies",
    "deliver_copy",
    "expire_claim",
    "finish_copy",
    "retry_delay",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUILD_CHUNK = 5  # copies built per trip to the CPU pool (see _deliver_claimed)
CLAIM_LEASE = timedelta(minutes=15)  # longer than any SMTP conversation (timeouts are 60 s)
INTERRUPTED = (
    "delivery was interrupted; the message may or may not have reached the mail server "
    "and is not sent again to avoid a duplicate"
)


def _now() -> datetime:
    return datetime.now(UTC)


async def deliver_copy(copy_id: int, settings: Settings) -> EmailStatus | None:
    """Deliver one copy if it is still to be sent; return its status after this attempt.

    QUEUED: a temporary failure, its next attempt is enqueued; None: nothing to do.
    """
    return (await deliver_copies([copy_id], settings)).get(copy_id)


async def deliver_copies(
    copy_ids: Sequence[int], settings: Settings
) -> dict[int, EmailStatus | None]:
    """``deliver_copy`` for several copies (of one send, as the send job batches them),
    with the work they share done once: one claim (which reads the copies it claims),
    one read of the email, its route and links, a trip to the CPU pool per
    ``BUILD_CHUNK`` copies, the messages sent together over the SMTP pool's connections,
    the plainly accepted ones recorded in one UPDATE."""
    claimed, claim = await repository.claim_copies(copy_ids)
    statuses: dict[int, EmailStatus | None] = {}
    mine: dict[int, list[EmailCopy]] = {}
    for copy in claimed:
        mine.setdefault(copy.email_id, []).append(copy)  # type: ignore[attr-defined]
    others = set(copy_ids) - {copy.id for copy in claimed}
    if others:
        for copy in await repository.copies_by_id(sorted(others)):
            statuses[copy.id] = await _not_claimed(copy, settings)
    for email_id, copies in mine.items():
        statuses.update(await _deliver_claimed(email_id, copies, claim, settings))
    return statuses


async def _deliver_claimed(
    email_id: int, copies: list[EmailCopy], claim: object, settings: Settings
) -> dict[int, EmailStatus | None]:
    # Independent statements at once (on PostgreSQL each on a connection of its own, not
    # one round trip after the other), each awaited to its end before an error is raised.
    read, marked = await asyncio.gather(
        repository.email_for_sending(email_id), repository.mark_email_sending(email_id),
        return_exceptions=True,
    )
    email = _result_of(read, marked)
    started: float | None = None
    results: list[DeliveryResult | Exception | None]
    try:
        routed, links = await asyncio.gather(
            route_for(email.user, settings),
            repository.link_indexes(email.id),
            return_exceptions=True,
        )
        route = _result_of(routed, links)
        indexes = _result_of(links)
    except Exception as error:  # (DeliveryErrors included) every copy ends the same way
        results = [error for _ in copies]
    else:
        started = time.perf_counter()

        async def build_and_send(
            chunk: list[EmailCopy],
        ) -> list[DeliveryResult | Exception | None]:
            try:
                messages = await _build(email, chunk, settings, route, indexes)
                handed = await repository.hand_copies([c.id for c in chunk], claim)
            except Exception as error:
                return [error] * len(chunk)  # none of them went out
            ours = [(m, c) for m, c in zip(messages, chunk, strict=True) if c.id in handed]
            try:
                sent = iter(await send_many_through(
                    route, [(m, c.envelope_to) for m, c in ours],
                    clean=lambda: _clean(email, chunk[0], settings, route),
                    user=email.user, settings=settings,
                ))
            except Exception as error:
                sent = iter([error] * len(ours))
            # None: the claim was lost before the hand-off (its lease ran out); not ours.
            return [next(sent) if c.id in handed else None for c in chunk]

        # Built in small chunks, each sent as soon as it is ready: the first messages are
        # on the wire while the CPU pool builds the next ones.
        chunks = [copies[i:i + BUILD_CHUNK] for i in range(0, len(copies), BUILD_CHUNK)]
        parts = await asyncio.gather(*(build_and_send(chunk) for chunk in chunks))
        results = [result for part in parts for result in part]
    statuses: dict[int, EmailStatus | None] = {}
    sent: list[EmailCopy] = []
    for copy, result in zip(copies, results, strict=True):
        if result is None:
            log.warning("copy %s: its claim expired before it was sent; left to its new "
                        "owner", copy.id)
            statuses[copy.id] = None
        elif isinstance(result, DeliveryResult) and not result.refused:
            sent.append(copy)
        else:
            statuses[copy.id] = await _settle(copy, result, settings, started)
    if sent:
        for copy in sent:
            _outcome(copy, "sent", started, None)
        # One UPDATE for all the plainly accepted copies, then the email's status once.
        await repository.mark_copies_sent([c.id for c in sent], _now())
        await repository.refresh_email_status(email_id)
        statuses.update({copy.id: EmailStatus.SENT for copy in sent})
    accepted = [c for c in copies if statuses.get(c.id) == EmailStatus.SENT]
    if accepted:
        try:
            await file_sent_copy(
                route, email.id, lambda: _clean(email, accepted[0], settings, route)
            )
        except Exception:
            log.exception("filing the Sent copy of email %s failed", email.id)
    for copy in accepted:
        try:
            await registry.call_all("after_email_sent", email.id, copy.message_id)
        except Exception:
            log.exception("an after_email_sent handler failed for copy %s", copy.id)
    return statuses


def _result_of(outcome: T | BaseException, *others: object) -> T:
    """``outcome`` of a ``gather(..., return_exceptions=True)``; the first error among it
    and ``others`` raised instead."""
    for each in (outcome, *others):
        if isinstance(each, BaseException):
            raise each
    return outcome  # type: ignore[return-value]  # not an exception, checked just above


async def _settle(
    copy: EmailCopy, result: DeliveryResult | BaseException, settings: Settings,
    started: float | None,
) -> EmailStatus:
    """Record one copy's outcome other than a plain acceptance."""
    if isinstance(result, DeliveryResult):
        some_refused = f"{len(result.refused)} recipient(s) refused"
        _outcome(copy, "sent", started, some_refused)
        refused = "; ".join(f"{addr}: refused ({why})" for addr, why in result.refused.items())
        return await finish_copy(copy, EmailStatus.SENT, refused, accepted_at=_now())
    if isinstance(result, PermanentDeliveryError):
        _outcome(copy, "failed", started, result.reason)
        return await finish_copy(copy, EmailStatus.FAILED, result.reason)
    if isinstance(result, TemporaryDeliveryError):
        return await _retry_later(copy, result.reason, settings, started)
    log.error("sending copy %s failed unexpectedly", copy.id, exc_info=result)
    reason = f"internal error: {type(result).__name__}"
    _outcome(copy, "failed", started, reason)
    return await finish_copy(copy, EmailStatus.FAILED, reason)


def _outcome(
    copy: EmailCopy,
    status: str,
    started: float | None,
    detail: str | None,
    *,
    next_in: float | None = None,
) -> None:
    """Count and log how a copy's delivery ended (never with its recipients' addresses)."""
    seconds = time.perf_counter() - started if started is not None else None
    record_copy_sent(status, seconds)
    took = f" in {seconds * 1000:.0f} ms" if seconds is not None else ""
    why = f": {redact_addresses(detail)}" if detail else ""
    level = logging.INFO if status == "sent" else logging.WARNING
    if next_in is not None:
        # Not "retrying in 21 ms": that read as the wait, when it was the failed attempt.
        status = f"failed for now{took}, next attempt in {next_in:.0f} s"
        took = ""
    log.log(level, "copy %s of email %s %s%s%s", copy.id, copy.email_id, status, took, why)  # type: ignore[attr-defined]


async def _not_claimed(copy: EmailCopy, settings: Settings) -> EmailStatus | None:
    if copy.status != EmailStatus.SENDING:
        return None  # already SENT or FAILED: a redelivered job, nothing to do
    if copy.claimed_at is not None and _now() - copy.claimed_at < CLAIM_LEASE:
        return None  # another worker holds the claim
    return await expire_claim(copy, _now(), settings)


async def expire_claim(copy: EmailCopy, now: datetime, settings: Settings) -> EmailStatus | None:
    """Settle a SENDING copy whose claim's lease ran out (its worker died): back to
    QUEUED and enqueued at once if it was never handed to SMTP, else FAILED interrupted.
    None if the copy moved meanwhile (another sweep or job settled it).

    A never-handed copy counts as a temporary failure for the give-up time, so that one
    whose build kills its worker every time ends FAILED rather than looping for ever."""
    retry_until = copy.retry_until or now + timedelta(hours=settings.send_give_up_hours)
    if copy.handed_at is None and now >= retry_until:
        log.warning("copy %s was interrupted before it was sent, past its give-up time",
                    copy.id)
        return await finish_copy(
            copy, EmailStatus.FAILED,
            f"gave up after {copy.attempts} attempts: interrupted before it was sent",
        )
    if copy.handed_at is None:
        # Conditional on the very claim we read: a worker still alive past its lease then
        # finds its hand_copies fenced off, and two sweeps do not both enqueue.
        async with transaction():  # the job goes out once the copy is QUEUED again
            requeued = await repository.requeue_unhanded(copy, now, retry_until)
            if requeued:
                await enqueue_async(SEND_COPY, copy.id)
        if not requeued:
            return None
        log.warning("copy %s was interrupted before it was sent; sending it again", copy.id)
        return EmailStatus.QUEUED
    log.warning("copy %s was interrupted while sending; not resending it", copy.id)
    return await finish_copy(copy, EmailStatus.FAILED, INTERRUPTED)


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th attempt failed (jittered down, never up)."""
    schedule = settings.send_retry_seconds
    wait = schedule[min(max(attempts, 1), len(schedule)) - 1]
    # Jitter spreads the copies of one large send that all failed at once.
    return wait * random.uniform(0.8, 1.0)  # noqa: S311 - not security


async def _retry_later(
    copy: EmailCopy, reason: str, settings: Settings, started: float | None
) -> EmailStatus:
    now = _now()
    retry_until = copy.retry_until or now + timedelta(hours=settings.send_give_up_hours)
    if now >= retry_until:
        _outcome(copy, "failed", started, reason)
        return await finish_copy(
            copy, EmailStatus.FAILED, f"gave up after {copy.attempts} attempts: {reason}"
        )
    wait = retry_delay(settings, copy.attempts)
    _outcome(copy, "retrying", started, reason, next_in=wait)
    # Back to QUEUED before the job exists: a job that ran first would find it SENDING.
    async with transaction():
        await repository.requeue_copy(copy.id, reason, retry_until, now + timedelta(seconds=wait))
        await enqueue_async(SEND_COPY, copy.id, delay_ms=int(wait * 1000))
    return EmailStatus.QUEUED


async def _build(
    email: SentEmail, copies: list[EmailCopy], settings: Settings, route: Route,
    indexes: dict[str, int],
) -> list[EmailMessage | Flat]:
    """The copies' messages, ready for ``send_many_through``: one trip to the CPU pool
    (instrumenting, MIME and flattening take milliseconds a copy, seconds for thousands
    of links), after the footers, whose consent hooks run here."""
    built = [
        CopyToBuild(
            public_id=bytes.fromhex(copy.public_id), track_opens=copy.track_opens,
            track_links=copy.track_links, message_id=copy.message_id or "",
            recipients=list(copy.envelope_to), footer=await _footer(email, copy),
        )
        for copy in copies
    ]
    return await run_cpu(
        build_copies, email=_shared(email, route), copies=built, indexes=indexes,
        settings=settings, envelope_sender=None if route.host is not None else route.sender,
    )


async def _footer(email: SentEmail, copy: EmailCopy) -> tuple[str, str] | None:
    """The ``resolve_stop_tracking_footer`` hook's footer of a tracked copy (consent's: a
    copy to an opt-in/opt-out recipient carries a "Stop tracking" link, the recipient's
    own when the copy goes to it alone, else the message's)."""
    if not (copy.track_opens or copy.track_links):
        return None
    footer: tuple[str, str] | None
    if copy.recipient is None:
        everyone = [*email.to_addresses, *email.cc_addresses, *email.bcc_addresses]
        footer = await registry.first_answer(
            "resolve_stop_tracking_footer", everyone, copy.public_id
        )
    else:
        footer = await registry.first_answer(
            "resolve_stop_tracking_footer", [copy.recipient], None
        )
    return footer


def _shared(email: SentEmail, route: Route) -> EmailToBuild:
    return EmailToBuild(
        html=email.html, text=email.text, sender_name=email.user.name,
        from_address=route.from_address, to=email.to_addresses, cc=email.cc_addresses,
        subject=email.subject,
    )


async def _clean(
    email: SentEmail, copy: EmailCopy, settings: Settings, route: Route
) -> EmailMessage:
    """The copy for the sender's own Sent folder (see ``build_clean_copy``)."""
    return await run_cpu(
        build_clean_copy, email=_shared(email, route), public_id=bytes.fromhex(copy.public_id),
        message_id=copy.message_id or "", bcc=email.bcc_addresses, settings=settings,
    )


async def finish_copy(
    copy: EmailCopy, status: EmailStatus, error: str | None, *, accepted_at: datetime | None = None
) -> EmailStatus:
    await repository.set_copy_outcome(copy.id, status, error, accepted_at)
    await repository.refresh_email_status(copy.email_id)  # type: ignore[attr-defined]
    return status
