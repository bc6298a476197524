"""The tracking decision: choices, preferences and the before_email_sent hook."""

from __future__ import annotations

from typing import Any

from plugin.accounts.models import User
from plugin.hooks import OutgoingEmail, registry
from plugin.preferences.service import PreferenceChanges, update_preferences
from plugin.sending.decision import CopyPlan, decide_tracking


async def test_absent_toggles_take_the_defaults_and_given_ones_win(make_user: Any) -> None:
    user = await User.get(id=(await make_user()).id)
    await update_preferences(user, PreferenceChanges(default_track_links=False))
    decision = await decide_tracking(user, ["a@example.com"], track_opens=None, track_links=None,
                                     per_recipient=False)
    assert (decision.opens, decision.links, decision.reasons) == (True, False, [])
    decision = await decide_tracking(user, ["a@example.com"], track_opens=False, track_links=True,
                                     per_recipient=False)
    assert (decision.chosen_opens, decision.chosen_links) == (False, True)


async def test_both_preferences_off(make_user: Any) -> None:
    user = await User.get(id=(await make_user()).id)
    await update_preferences(user, PreferenceChanges(open_tracking_enabled=False,
                                                     link_tracking_enabled=False))
    seen: list[OutgoingEmail] = []
    def record(email: OutgoingEmail) -> None:
        seen.append(email)

    with registry.registered("before_email_sent", record):
        decision = await decide_tracking(user, ["a@example.com"], track_opens=True,
                                         track_links=True, per_recipient=False)
    assert not decision.opens and not decision.links and len(decision.reasons) == 2
    assert seen == []  # nothing to switch off: the hook is not asked
    assert (decision.chosen_opens, decision.chosen_links) == (True, True)


async def test_hook_sees_the_recipients_and_ignores_strangers(make_user: Any) -> None:
    user = await User.get(id=(await make_user()).id)

    async def policy(email: OutgoingEmail) -> None:
        assert email.recipients == ["a@example.com", "b@example.com"] and email.per_recipient
        email.switch_off_tracking("b@example.com", "opted out")
        email.switch_off_tracking("stranger@example.com", "not in this mail")

    with registry.registered("before_email_sent", policy):
        decision = await decide_tracking(user, ["a@example.com", "b@example.com"],
                                         track_opens=True, track_links=False, per_recipient=True)
    assert decision.copies == [CopyPlan("a@example.com", True, False),
                               CopyPlan("b@example.com", False, False)]
    assert decision.reasons == ["Tracking is switched off for b@example.com: opted out"]
