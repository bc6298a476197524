"""Consent gates used by the sending and tracking pipelines.

- Send time: :func:`before_email_sent`, registered on the hook registry by
  :func:`install` (called from the app lifespan and the worker start, never at
  import), switches tracking off for every recipient that may not be tracked,
  with a reason the sender reads in ``TrackingDecision.reasons``. Whether a
  shared message (to + cc) then goes out untracked as a whole is the sending
  pipeline's rule: it is tracked only if no recipient was switched off.
- Event time: :func:`hits_may_be_recorded` says whether hits on a copy may still
  be recorded: no longer once any of its recipients has refused (DENIED or
  WITHDRAWN, erasure included), so a withdrawal reaches back to mail sent earlier.
"""

from __future__ import annotations

from collections.abc import Sequence

from consent.jurisdiction import Jurisdiction, normalize_address
from consent.policy import ConsentStatus, Policy, may_track, policy_for
from consent.repository import any_suppressed
from consent.service import current_settings, jurisdiction_of, policy_config, statuses_of
from consent.signing import keys_for
from plugin.hooks import OutgoingEmail, registry
from plugin.settings import Settings

__all__ = ["before_email_sent", "hits_may_be_recorded", "install", "why_untracked"]


def install() -> None:
    """Register the consent gate on the hook registry (idempotent)."""
    if before_email_sent not in registry.get_hooks("before_email_sent"):
        # Early (negative order): host policies registered later see consent's decision.
        registry.register("before_email_sent", before_email_sent, order=-100)


def why_untracked(jurisdiction: Jurisdiction, policy: Policy, status: ConsentStatus) -> str:
    """The human-readable rule that keeps a recipient untracked (without the address: the
    sending pipeline prefixes it), e.g. "the recipient's jurisdiction (EU, from the
    address's domain) requires prior consent (opt-in) and none is recorded"."""
    if status in (ConsentStatus.DENIED, ConsentStatus.WITHDRAWN):
        return f"the recipient's consent to tracking is {status.value}"
    if jurisdiction.region is None:
        where = "the recipient's jurisdiction is unknown and the policy for unknown ones"
    else:
        origin = (
            "the CRM contact's country" if jurisdiction.source == "host" else "the address's domain"
        )
        where = f"the recipient's jurisdiction ({jurisdiction.region}, from {origin})"
    return f"{where} requires prior consent ({policy}) and none is recorded"


async def before_email_sent(email: OutgoingEmail, settings: Settings | None = None) -> None:
    """Switch tracking off for each recipient whose jurisdiction's policy and recorded
    consent do not allow it. Does nothing for a message that is not tracked at all."""
    if not (email.track_opens or email.track_links) or not email.recipients:
        return
    settings = settings or current_settings()
    config = policy_config(settings)
    statuses = await statuses_of(email.recipients, settings)
    for recipient in email.recipients:
        status = statuses[normalize_address(recipient)]
        jurisdiction = await jurisdiction_of(recipient)
        policy = policy_for(jurisdiction, config)
        if not may_track(policy, status):
            email.switch_off_tracking(recipient, why_untracked(jurisdiction, policy, status))


async def hits_may_be_recorded(recipients: Sequence[str], settings: Settings | None = None) -> bool:
    """Whether hits on a copy sent to ``recipients`` may still be recorded (event-time gate):
    False once any of them has DENIED or WITHDRAWN consent. One indexed query."""
    if not recipients:
        return True
    keys = keys_for(settings or current_settings())
    hashes = [h for recipient in recipients for h in keys.address_hashes(recipient)]
    return not await any_suppressed(hashes)
