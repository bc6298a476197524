"""Consent gates used by the sending and tracking pipelines, through declared hooks.

The composition root calls :func:`install` with the process's settings (never at
import); it registers a :class:`ConsentGates` bound to them on the hook registry:

- Send time: ``before_email_sent`` (:func:`before_email_sent`) switches tracking
  off for every recipient that may not be tracked, with a reason the sender reads
  in ``TrackingDecision.reasons``. Whether a shared message (to + cc) then goes
  out untracked as a whole is the sending pipeline's rule: it is tracked only if
  no recipient was switched off. ``resolve_stop_tracking_footer``
  (consent.footer's :func:`stop_tracking_footer`) gives a tracked copy its
  "Stop tracking" link.
- Event time: ``before_hits_recorded`` (:func:`hits_may_be_recorded`) vetoes
  recording hits on a copy once any of its recipients has refused (DENIED or
  WITHDRAWN, erasure included), so a withdrawal reaches back to mail sent earlier.

The domains (plugin.sending, plugin.tracking) call the hooks and never import
this package: consent sits above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consent.footer import stop_tracking_footer
from consent.jurisdiction import Jurisdiction, normalize_address
from consent.policy import ConsentStatus, Policy, may_track, policy_for
from consent.repository import any_suppressed
from consent.service import jurisdiction_of, policy_config, statuses_of
from consent.signing import keys_for
from plugin.hooks import OutgoingEmail, registry
from plugin.settings import Settings

__all__ = [
    "ConsentGates",
    "before_email_sent",
    "hits_may_be_recorded",
    "install",
    "installed",
    "why_untracked",
]


@dataclass(frozen=True)
class ConsentGates:
    """Consent's hook handlers, bound to one process's settings."""

    settings: Settings

    async def before_email_sent(self, email: OutgoingEmail) -> None:
        await before_email_sent(email, self.settings)

    async def before_hits_recorded(self, recipients: Sequence[str]) -> bool:
        return await hits_may_be_recorded(recipients, self.settings)

    async def resolve_stop_tracking_footer(
        self, recipients: Sequence[str], message: str | None
    ) -> tuple[str, str] | None:
        return await stop_tracking_footer(recipients, self.settings, message=message)


# Early (negative order): host policies registered later see consent's decision.
_ORDER = -100
_HOOKS = ("before_email_sent", "before_hits_recorded", "resolve_stop_tracking_footer")
_installed: ConsentGates | None = None


def install(settings: Settings) -> ConsentGates:
    """Register consent's gates, bound to ``settings``, on the hook registry; a second
    install replaces the first (one set of consent gates per process)."""
    global _installed
    if _installed is not None:
        if _installed.settings is settings:
            return _installed
        for name in _HOOKS:
            registry.unregister(name, getattr(_installed, name))
    gates = ConsentGates(settings)
    for name in _HOOKS:
        registry.register(name, getattr(gates, name), order=_ORDER)
    _installed = gates
    return gates


def installed() -> ConsentGates | None:
    """The gates :func:`install` registered last (None before)."""
    return _installed


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


async def before_email_sent(email: OutgoingEmail, settings: Settings) -> None:
    """Switch tracking off for each recipient whose jurisdiction's policy and recorded
    consent do not allow it. Does nothing for a message that is not tracked at all."""
    if not (email.track_opens or email.track_links) or not email.recipients:
        return
    config = policy_config(settings)
    statuses = await statuses_of(email.recipients, settings)
    for recipient in email.recipients:
        status = statuses[normalize_address(recipient)]
        jurisdiction = await jurisdiction_of(recipient)
        policy = policy_for(jurisdiction, config)
        if not may_track(policy, status):
            email.switch_off_tracking(recipient, why_untracked(jurisdiction, policy, status))


async def hits_may_be_recorded(recipients: Sequence[str], settings: Settings) -> bool:
    """Whether hits on a copy sent to ``recipients`` may still be recorded (event-time gate):
    False once any of them has DENIED or WITHDRAWN consent. One indexed query."""
    if not recipients:
        return True
    keys = keys_for(settings)
    hashes = [h for recipient in recipients for h in keys.address_hashes(recipient)]
    return not await any_suppressed(hashes)
