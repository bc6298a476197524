"""The tracking decision of one send: what the mail carries, and why it differs from the ask.

Order of precedence (DESIGN §1, §3):

1. The caller's choice: ``trackOpens``/``trackLinks`` as given, else the user's
   compose defaults. These *chosen* values become the new defaults.
2. The user's preferences: a switch that is off wins, and says so in ``reasons``.
3. The ``before_email_sent`` hook (consent, host policies) switches tracking off
   per recipient. One shared message (to + cc + bcc) is tracked only if no
   recipient was switched off; with ``trackPerRecipient`` each copy is decided alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from plugin.accounts.models import User
from plugin.hooks import OutgoingEmail, registry
from plugin.preferences.service import get_preferences

__all__ = ["CopyPlan", "TrackingDecision", "decide_tracking"]


@dataclass(frozen=True)
class CopyPlan:
    """The tracking of one copy: ``recipient`` is None for the shared copy."""

    recipient: str | None
    opens: bool
    links: bool


@dataclass
class TrackingDecision:
    """What the sent mail carries (``opens``/``links``: any copy), and why."""

    opens: bool
    links: bool
    reasons: list[str]
    chosen_opens: bool  # what the user chose (given, or the default): the next defaults
    chosen_links: bool
    copies: list[CopyPlan] = field(default_factory=list)


async def decide_tracking(
    user: User,
    recipients: Sequence[str],
    *,
    track_opens: bool | None,
    track_links: bool | None,
    per_recipient: bool,
) -> TrackingDecision:
    """Decide tracking for ``recipients`` (normalized addresses: to, cc, bcc in that order)."""
    preference = await get_preferences(user)
    chosen_opens = preference.default_track_opens if track_opens is None else track_opens
    chosen_links = preference.default_track_links if track_links is None else track_links
    reasons: list[str] = []
    opens, links = chosen_opens, chosen_links
    if opens and not preference.open_tracking_enabled:
        opens = False
        reasons.append("Open tracking is switched off in your preferences.")
    if links and not preference.link_tracking_enabled:
        links = False
        reasons.append("Link tracking is switched off in your preferences.")

    outgoing = OutgoingEmail(
        sender_id=user.id, recipients=list(recipients), per_recipient=per_recipient,
        track_opens=opens, track_links=links,
    )
    if opens or links:
        await registry.call_all("before_email_sent", outgoing)
    # Only recipients of this mail count; a handler naming anyone else changes nothing.
    untracked = {r: why for r, why in outgoing.untracked.items() if r in set(recipients)}
    for recipient in recipients:
        if recipient in untracked:
            reasons.append(f"Tracking is switched off for {recipient}: {untracked[recipient]}")

    if per_recipient:
        copies = [
            CopyPlan(r, opens and r not in untracked, links and r not in untracked)
            for r in recipients
        ]
    else:
        tracked = not untracked
        if untracked and (opens or links):
            reasons.append(
                "One message goes to every recipient, so it is sent without tracking; "
                "send a copy per recipient to track the others."
            )
        copies = [CopyPlan(None, opens and tracked, links and tracked)]
    return TrackingDecision(
        opens=any(c.opens for c in copies),
        links=any(c.links for c in copies),
        reasons=reasons,
        chosen_opens=chosen_opens,
        chosen_links=chosen_links,
        copies=copies,
    )
