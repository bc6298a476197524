"""Delivering one copy, exactly as the send actor does it: claim, build, send, record.

Delivery is *at most once* per copy. Before talking to the mail server the
copy is claimed with a conditional UPDATE (QUEUED -> SENDING, attempts + 1);
only the worker whose UPDATE changed the row sends. A redelivered job finds
the copy SENT or FAILED and does nothing, or SENDING:

- claimed less than ``CLAIM_LEASE`` ago: another worker is on it; do nothing;
- claimed longer ago: a worker died between sending and recording. The
  server may or may not have the message, and a duplicate in the recipient's
  inbox is worse than an error the user can see and act on, so the copy ends
  FAILED ("interrupted") instead of being sent again.

Temporary failures (4xx, the server unreachable) put the copy back to QUEUED
with its next attempt due after the next wait of ``SEND_RETRY_SECONDS`` and
enqueue that attempt; the copy (and its email) stays QUEUED or SENDING while it
waits. The first temporary failure fixes ``retry_until`` (``SEND_GIVE_UP_HOURS``
later); a temporary failure after that ends the copy FAILED. Permanent
failures (5xx) end it FAILED at once.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from tortoise.expressions import F

from consent.footer import append_stop_tracking_footer
from plugin.cpu import run_cpu
from plugin.hooks import registry
from plugin.jobs import enqueue_async
from plugin.observability.logs import redact_addresses
from plugin.observability.metrics import record_copy_sent
from plugin.sending.compose import instrument_copy
from plugin.sending.delivery import PermanentDeliveryError, TemporaryDeliveryError
from plugin.sending.mime import build_message
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.sending.service import SEND_ACTOR
from plugin.sending.transport import file_sent_copy, route_for, send_through
from plugin.settings import Settings

__all__ = [
    "CLAIM_LEASE",
    "INTERRUPTED",
    "deliver_copy",
    "finish_copy",
    "refresh_email_status",
    "retry_delay",
]

log = logging.getLogger(__name__)

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
    claimed = await EmailCopy.filter(id=copy_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING, attempts=F("attempts") + 1, claimed_at=_now()
    )
    copy = await EmailCopy.get_or_none(id=copy_id)
    if copy is None:
        return None  # the email was deleted meanwhile
    if not claimed:
        return await _not_claimed(copy)
    await _mark_sending(copy.email_id)  # type: ignore[attr-defined]
    email = await SentEmail.get(id=copy.email_id).prefetch_related("user")  # type: ignore[attr-defined]
    started: float | None = None
    try:
        route = await route_for(email.user, settings)
        message = await _build(email, copy, settings, route.from_address)
        started = time.perf_counter()
        result = await send_through(
            route, message, clean=lambda: _clean(email, copy, settings, route.from_address),
            user=email.user, recipients=copy.envelope_to, settings=settings,
        )
    except PermanentDeliveryError as error:
        _outcome(copy, "failed", started, error.reason)
        return await finish_copy(copy, EmailStatus.FAILED, error.reason)
    except TemporaryDeliveryError as error:
        return await _retry_later(copy, error.reason, settings, started)
    except Exception as error:
        log.exception("sending copy %s failed unexpectedly", copy.id)
        reason = f"internal error: {type(error).__name__}"
        _outcome(copy, "failed", started, reason)
        return await finish_copy(copy, EmailStatus.FAILED, reason)
    some_refused = f"{len(result.refused)} recipient(s) refused" if result.refused else None
    _outcome(copy, "sent", started, some_refused)
    refused = "; ".join(f"{addr}: refused ({why})" for addr, why in result.refused.items())
    status = await finish_copy(copy, EmailStatus.SENT, refused or None, accepted_at=_now())
    try:
        await file_sent_copy(
            route, email.id, lambda: _clean(email, copy, settings, route.from_address)
        )
    except Exception:
        log.exception("filing the Sent copy of copy %s failed", copy.id)
    try:
        await registry.call_all("after_email_sent", email.id, copy.message_id)
    except Exception:
        log.exception("an after_email_sent handler failed for copy %s", copy.id)
    return status


def _outcome(copy: EmailCopy, status: str, started: float | None, detail: str | None) -> None:
    """Count and log how a copy's delivery ended (never with its recipients' addresses)."""
    seconds = time.perf_counter() - started if started is not None else None
    record_copy_sent(status, seconds)
    took = f" in {seconds * 1000:.0f} ms" if seconds is not None else ""
    why = f": {redact_addresses(detail)}" if detail else ""
    level = logging.INFO if status == "sent" else logging.WARNING
    log.log(level, "copy %s of email %s %s%s%s", copy.id, copy.email_id, status, took, why)  # type: ignore[attr-defined]


async def _not_claimed(copy: EmailCopy) -> EmailStatus | None:
    if copy.status != EmailStatus.SENDING:
        return None  # already SENT or FAILED: a redelivered job, nothing to do
    if copy.claimed_at is not None and _now() - copy.claimed_at < CLAIM_LEASE:
        return None  # another worker holds the claim
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
    _outcome(copy, "retrying", started, reason)
    wait = retry_delay(settings, copy.attempts)
    # Back to QUEUED before the job exists: a job that ran first would find it SENDING.
    await EmailCopy.filter(id=copy.id, status=EmailStatus.SENDING).update(
        status=EmailStatus.QUEUED, error=reason, retry_until=retry_until,
        next_attempt_at=now + timedelta(seconds=wait),
    )
    await enqueue_async(SEND_ACTOR, copy.id, delay_ms=int(wait * 1000))
    return EmailStatus.QUEUED


async def _build(  # type: ignore[no-untyped-def]
    email: SentEmail, copy: EmailCopy, settings: Settings, from_address: str
):
    links = await TrackedLink.filter(email_id=email.id).values_list("url", "position")
    # CPU-bound (seconds for thousands of links): in the pool, off every event loop.
    bodies = await run_cpu(
        instrument_copy,
        html=email.html, text=email.text, public_id=bytes.fromhex(copy.public_id),
        track_opens=copy.track_opens, track_links=copy.track_links,
        indexes={str(url): int(position) for url, position in links}, settings=settings,
    )
    html, text = bodies.html, bodies.text
    if copy.track_opens or copy.track_links:
        # Consent: a tracked copy to an opt-in/opt-out recipient carries a "Stop tracking"
        # link: the recipient's own when the copy goes to it alone, else the message's.
        if copy.recipient is None:
            everyone = [*email.to_addresses, *email.cc_addresses, *email.bcc_addresses]
            html, text = await append_stop_tracking_footer(
                html, text, everyone, settings, message=copy.public_id
            )
        else:
            html, text = await append_stop_tracking_footer(html, text, [copy.recipient], settings)
    # Encoding megabytes of body as MIME is CPU work too.
    return await run_cpu(
        build_message,
        sender_name=email.user.name, sender_address=from_address,
        to=email.to_addresses, cc=email.cc_addresses, subject=email.subject,
        text=text, html=html, message_id=copy.message_id or "",
    )


async def _clean(
    email: SentEmail, copy: EmailCopy, settings: Settings, from_address: str
) -> EmailMessage:
    """The copy for the sender's own Sent folder: the author's HTML as written (no pixel,
    no tracked links, no honeypot, no consent footer), its Bcc kept as mail clients do."""
    bodies = await run_cpu(
        instrument_copy,
        html=email.html, text=email.text, public_id=bytes.fromhex(copy.public_id),
        track_opens=False, track_links=False, indexes={}, settings=settings,
    )
    message = await run_cpu(
        build_message,
        sender_name=email.user.name, sender_address=from_address,
        to=email.to_addresses, cc=email.cc_addresses, subject=email.subject,
        text=bodies.text, html=bodies.html, message_id=copy.message_id or "",
    )
    if email.bcc_addresses:
        message["Bcc"] = ", ".join(email.bcc_addresses)
    return message


async def finish_copy(
    copy: EmailCopy, status: EmailStatus, error: str | None, *, accepted_at: datetime | None = None
) -> EmailStatus:
    updates: dict[str, object] = {"status": status, "error": error}
    if accepted_at is not None:
        updates["accepted_at"] = accepted_at
    await EmailCopy.filter(id=copy.id).update(**updates)
    await refresh_email_status(copy.email_id)  # type: ignore[attr-defined]
    return status


async def refresh_email_status(email_id: int) -> None:
    """Move the email's status forward to what its copies say.

    Called at every copy's end: it asks the database small questions rather
    than reading every copy (a per-recipient send has up to hundreds).
    """
    copies = EmailCopy.filter(email_id=email_id)
    if await copies.filter(status=EmailStatus.FAILED).exists():
        failed = await copies.filter(status=EmailStatus.FAILED).values("error", "recipient")
        errors = [f"{c['recipient']}: {c['error']}" if c["recipient"] else str(c["error"])
                  for c in failed]
        await SentEmail.filter(id=email_id).exclude(status=EmailStatus.FAILED).update(
            status=EmailStatus.FAILED, error="; ".join(errors)
        )
    elif not await copies.exclude(status=EmailStatus.SENT).exists():
        sent = await copies.values("error", "accepted_at")
        if not sent:
            return
        accepted = [c["accepted_at"] for c in sent if c["accepted_at"] is not None]
        notes = [c["error"] for c in sent if c["error"]]  # recipients refused along the way
        await SentEmail.filter(
            id=email_id, status__in=[EmailStatus.QUEUED, EmailStatus.SENDING]
        ).update(status=EmailStatus.SENT, sent_at=max(accepted, default=_now()),
                 error="; ".join(notes) or None)
    else:
        await _mark_sending(email_id)


async def _mark_sending(email_id: int) -> None:
    """QUEUED -> SENDING: one of its copies was claimed (the first claim moves it)."""
    await SentEmail.filter(id=email_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING
    )
