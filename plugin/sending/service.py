"""sendEmail: validate, render, decide tracking, store, and enqueue delivery on commit.

Decisions where the contract is silent:

- Idempotency is checked first: the same user and ``idempotencyKey`` return the
  first send's email and decision, whatever the new input, and send nothing.
  Two concurrent sends with one key are settled by the unique constraint.
- Copies: by default one copy for everyone (to, cc and bcc in its envelope; bcc
  never in a header). With ``trackPerRecipient`` every recipient, bcc included,
  gets its own copy: the same visible To/Cc headers, its own tokens, an
  envelope to that recipient alone.
- The rendered bodies are stored on the email (``text`` None when it is to be
  derived from the HTML: that happens per copy, from the HTML as sent); each
  copy is instrumented by the send actor (see ``plugin.sending.compose``). Its
  Message-ID is fixed here so that a retry sends the very same message.
- Everything (email, copies, tracked links, the remembered compose choices) is
  written in one transaction; the send jobs are enqueued inside it and go out
  only once it commits (plugin.transaction).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from plugin.accounts.models import User
from plugin.cpu import run_cpu
from plugin.errors import TooManyLinksError
from plugin.jobs import JobName, enqueue_async
from plugin.preferences.service import remember_compose_choices
from plugin.sending.compose import tracked_destinations
from plugin.sending.decision import CopyPlan, TrackingDecision, decide_tracking
from plugin.sending.mime import new_message_id
from plugin.sending.models import EmailCopy, SentEmail
from plugin.sending.repository import (
    email_by_idempotency_key,
    insert_copies,
    insert_email,
    insert_tracked_links,
)
from plugin.sending.templates import render_parts
from plugin.sending.validation import (
    MAX_IDEMPOTENCY_KEY,
    Draft,
    InvalidDraft,
    ValidDraft,
    check_subject,
    check_text,
    validate_draft,
)
from plugin.settings import Settings
from plugin.tracking.edge.tokens import new_public_id
from plugin.transaction import transaction

__all__ = ["SEND_BATCH", "SEND_COPIES", "SEND_COPY", "decision_of", "send_email"]

SEND_COPY = JobName("send_email_copy", queue="send")
SEND_COPIES = JobName("send_email_copies", queue="send")
SEND_BATCH = 25


def decision_of(email: SentEmail) -> TrackingDecision:
    """The decision recorded on a stored email (for idempotent replays)."""
    return TrackingDecision(
        opens=email.track_opens, links=email.track_links,
        reasons=list(email.decision_reasons or []),
        chosen_opens=email.track_opens, chosen_links=email.track_links,
    )


async def send_email(
    user: User, draft: Draft, settings: Settings
) -> tuple[SentEmail, TrackingDecision]:
    """Store the email and its copies, enqueue their delivery, return the email and decision.

    Raises InvalidDraft (every input problem) or TemplateError; nothing is stored then.
    """
    key = draft.idempotency_key
    if key and len(key) <= MAX_IDEMPOTENCY_KEY:  # a longer one is refused by validation
        earlier = await email_by_idempotency_key(user.id, key)
        if earlier is not None:
            return earlier, decision_of(earlier)
    valid, problems = validate_draft(draft, settings)
    if valid is None:
        raise InvalidDraft(problems)
    subject, html, text = await _render(valid, settings)
    recipients = [a.display for a in valid.recipients]
    decision = await decide_tracking(
        user, recipients, track_opens=draft.track_opens, track_links=draft.track_links,
        per_recipient=draft.track_per_recipient,
    )
    plans = [(plan, new_public_id()) for plan in decision.copies]
    # Every copy has the same bodies, so one pass finds every tracked link. Seconds of
    # CPU for thousands of links: in the pool, so that the event loop stays free.
    try:
        destinations = await run_cpu(
            tracked_destinations, html=html, text=text, settings=settings,
            max_links=settings.max_links_per_email,
        ) if decision.links else []
    except TooManyLinksError as error:
        raise InvalidDraft([error]) from None
    try:
        email = await _store(
            user, valid, subject, html, text, decision, plans, destinations, settings
        )
    except IntegrityError:
        if not draft.idempotency_key:
            raise
        # Another request with the same key committed first: its result is the answer.
        earlier = await email_by_idempotency_key(user.id, draft.idempotency_key)
        if earlier is None:
            raise
        return earlier, decision_of(earlier)
    return email, decision


async def _enqueue_delivery(copy_ids: list[int]) -> None:
    # The copies of a per-recipient send go out in jobs of SEND_BATCH: each job shares
    # the claim, the reads, the CPU pool trip and the SMTP connections among its copies,
    # and several jobs still run side by side on the worker's threads.
    for start in range(0, len(copy_ids), SEND_BATCH):
        batch = copy_ids[start:start + SEND_BATCH]
        if len(batch) == 1:
            await enqueue_async(SEND_COPY, batch[0])
        else:
            await enqueue_async(SEND_COPIES, batch)


async def _render(valid: ValidDraft, settings: Settings) -> tuple[str, str | None, str | None]:
    draft = valid.draft
    if draft.context is None:
        return draft.subject, draft.html, draft.text
    parts = await render_parts(
        subject=draft.subject, html=draft.html, text=draft.text, context=draft.context,
        max_chars=settings.max_body_bytes, timeout=settings.template_timeout_seconds,
    )
    # A context value must not smuggle a header into the subject, nor unencodable text in.
    check_subject(parts.subject)
    for field, value in (("html", parts.html), ("text", parts.text)):
        if value is not None:
            check_text(value, field=field)
    return parts.subject, parts.html, parts.text


def _envelope(valid: ValidDraft, plan: CopyPlan) -> list[str]:
    if plan.recipient is None:
        return [a.envelope for a in valid.recipients]
    return [a.envelope for a in valid.recipients if a.display == plan.recipient]


async def _store(
    user: User,
    valid: ValidDraft,
    subject: str,
    html: str | None,
    text: str | None,
    decision: TrackingDecision,
    plans: list[tuple[CopyPlan, bytes]],
    destinations: list[tuple[int, str]],
    settings: Settings,
) -> SentEmail:
    draft = valid.draft
    to = [a.display for a in valid.to]
    cc = [a.display for a in valid.cc]
    domain = settings.message_id_domain or settings.public_host
    message_ids = [new_message_id(domain) for _ in plans]
    now = datetime.now(UTC)
    # The send jobs are held by the transaction: sent once it commits, dropped with it.
    async with transaction() as conn:
        email = await insert_email(conn, SentEmail(
            user_id=user.id, subject=subject, to_addresses=to, cc_addresses=cc,
            bcc_addresses=[a.display for a in valid.bcc],
            search_text=" ".join([subject, *to, *cc]).lower(),
            html=html, text=text, track_opens=decision.opens, track_links=decision.links,
            track_per_recipient=draft.track_per_recipient, decision_reasons=decision.reasons,
            idempotency_key=draft.idempotency_key or None,
            message_id=message_ids[0],
        ))
        copy_ids = await insert_copies(conn, [
            EmailCopy(
                email_id=email.id, public_id=public_id.hex(), recipient=plan.recipient,
                envelope_to=_envelope(valid, plan), track_opens=plan.opens,
                track_links=plan.links, message_id=message_id, next_attempt_at=now,
            )
            for (plan, public_id), message_id in zip(plans, message_ids, strict=True)
        ])
        await insert_tracked_links(conn, email.id, destinations)
        await remember_compose_choices(
            user, track_opens=decision.chosen_opens, track_links=decision.chosen_links
        )
        await _enqueue_delivery(copy_ids)
    return email

