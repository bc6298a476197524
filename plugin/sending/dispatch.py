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

Temporary failures put the copy back to QUEUED and raise ``RetryDelivery``
(Dramatiq retries with backoff); after ``MAX_ATTEMPTS`` they end FAILED.
The email's status is an aggregate of its copies, moved only forward
(QUEUED -> SENDING -> SENT/FAILED, FAILED over SENT), so concurrent copies
finishing in any order leave the right answer.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F

from consent.footer import append_stop_tracking_footer
from plugin.hooks import registry
from plugin.observability.logs import redact_addresses
from plugin.observability.metrics import record_copy_sent
from plugin.sending.compose import instrument_copy
from plugin.sending.delivery import PermanentDeliveryError, TemporaryDeliveryError, deliver
from plugin.sending.mime import build_message
from plugin.sending.models import EmailCopy, EmailStatus, SentEmail, TrackedLink
from plugin.settings import Settings

__all__ = ["CLAIM_LEASE", "MAX_ATTEMPTS", "RetryDelivery", "deliver_copy", "refresh_email_status"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # with 1 s .. 5 min backoff: about 10 minutes of trying
CLAIM_LEASE = timedelta(minutes=15)  # longer than any SMTP conversation (timeouts are 60 s)


class RetryDelivery(Exception):
    """A temporary failure: the job should be retried later."""


def _now() -> datetime:
    return datetime.now(UTC)


async def deliver_copy(copy_id: int, settings: Settings) -> EmailStatus | None:
    """Deliver one copy if it is still to be sent; return its final status (None: skipped)."""
    claimed = await EmailCopy.filter(id=copy_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING, attempts=F("attempts") + 1, claimed_at=_now()
    )
    copy = await EmailCopy.get_or_none(id=copy_id)
    if copy is None:
        return None  # the email was deleted meanwhile
    if not claimed:
        return await _not_claimed(copy)
    await refresh_email_status(copy.email_id)  # type: ignore[attr-defined]
    email = await SentEmail.get(id=copy.email_id).prefetch_related("user")  # type: ignore[attr-defined]
    started: float | None = None
    try:
        message = await _build(email, copy, settings)
        sender = settings.bounce_address or email.user.email
        started = time.perf_counter()
        result = await deliver(
            message, sender=sender, recipients=copy.envelope_to, settings=settings
        )
    except PermanentDeliveryError as error:
        _outcome(copy, "failed", started, error.reason)
        return await _finish(copy, EmailStatus.FAILED, error.reason)
    except TemporaryDeliveryError as error:
        if copy.attempts >= MAX_ATTEMPTS:  # the job's last try (max_retries = MAX_ATTEMPTS - 1)
            _outcome(copy, "failed", started, error.reason)
            return await _finish(
                copy, EmailStatus.FAILED, f"gave up after {copy.attempts} attempts: {error.reason}"
            )
        _outcome(copy, "retrying", started, error.reason)
        await EmailCopy.filter(id=copy.id, status=EmailStatus.SENDING).update(
            status=EmailStatus.QUEUED, error=error.reason
        )
        raise RetryDelivery(error.reason) from None
    except Exception as error:
        log.exception("sending copy %s failed unexpectedly", copy.id)
        _outcome(copy, "failed", started, f"internal error: {type(error).__name__}")
        return await _finish(copy, EmailStatus.FAILED, f"internal error: {type(error).__name__}")
    some_refused = f"{len(result.refused)} recipient(s) refused" if result.refused else None
    _outcome(copy, "sent", started, some_refused)
    refused = "; ".join(f"{addr}: refused ({why})" for addr, why in result.refused.items())
    status = await _finish(copy, EmailStatus.SENT, refused or None, accepted_at=_now())
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
    return await _finish(
        copy, EmailStatus.FAILED,
        "delivery was interrupted; the message may or may not have reached the mail server "
        "and is not sent again to avoid a duplicate",
    )


async def _build(email: SentEmail, copy: EmailCopy, settings: Settings):  # type: ignore[no-untyped-def]
    links = await TrackedLink.filter(email_id=email.id).values_list("url", "position")
    bodies = instrument_copy(
        html=email.html, text=email.text, public_id=bytes.fromhex(copy.public_id),
        track_opens=copy.track_opens, track_links=copy.track_links,
        indexes={str(url): int(position) for url, position in links}, settings=settings,
    )
    html, text = bodies.html, bodies.text
    if copy.track_opens or copy.track_links:
        # Consent: a tracked copy to an opt-in/opt-out recipient carries a "Stop tracking" link.
        visible = [copy.recipient] if copy.recipient else [*email.to_addresses, *email.cc_addresses]
        html, text = await append_stop_tracking_footer(html, text, visible, settings)
    return build_message(
        sender_name=email.user.name, sender_address=email.user.email,
        to=email.to_addresses, cc=email.cc_addresses, subject=email.subject,
        text=text, html=html, message_id=copy.message_id or "",
    )


async def _finish(
    copy: EmailCopy, status: EmailStatus, error: str | None, *, accepted_at: datetime | None = None
) -> EmailStatus:
    updates: dict[str, object] = {"status": status, "error": error}
    if accepted_at is not None:
        updates["accepted_at"] = accepted_at
    await EmailCopy.filter(id=copy.id).update(**updates)
    await refresh_email_status(copy.email_id)  # type: ignore[attr-defined]
    return status


async def refresh_email_status(email_id: int) -> None:
    """Move the email's status forward to what its copies say."""
    copies = await EmailCopy.filter(email_id=email_id).values(
        "status", "error", "recipient", "accepted_at"
    )
    statuses = [EmailStatus(c["status"]) for c in copies]
    if EmailStatus.FAILED in statuses:
        errors = [
            f"{c['recipient']}: {c['error']}" if c["recipient"] else str(c["error"])
            for c in copies if EmailStatus(c["status"]) == EmailStatus.FAILED
        ]
        await SentEmail.filter(id=email_id).exclude(status=EmailStatus.FAILED).update(
            status=EmailStatus.FAILED, error="; ".join(errors)
        )
    elif statuses and all(s == EmailStatus.SENT for s in statuses):
        accepted = [c["accepted_at"] for c in copies if c["accepted_at"] is not None]
        notes = [c["error"] for c in copies if c["error"]]  # recipients refused along the way
        await SentEmail.filter(
            id=email_id, status__in=[EmailStatus.QUEUED, EmailStatus.SENDING]
        ).update(status=EmailStatus.SENT, sent_at=max(accepted, default=_now()),
                 error="; ".join(notes) or None)
    elif any(s in (EmailStatus.SENDING, EmailStatus.SENT) for s in statuses):
        await SentEmail.filter(id=email_id, status=EmailStatus.QUEUED).update(
            status=EmailStatus.SENDING
        )
