"""A click held for its burst window is decided even when its finalise message was lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.sending.models import EmailCopy, SentEmail
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.store import PENDING_RULE
from tests.conftest import UserFactory
from tests.live.factories import make_email, store_event
from workers.actors.sweep import sweep_pending_clicks


async def test_the_sweep_decides_stale_held_clicks_and_leaves_fresh_ones(
    make_user: UserFactory,
) -> None:
    user = await make_user()
    email = await make_email(user.id)
    await EmailCopy.filter(email_id=email.id).update(
        accepted_at=datetime.now(UTC) - timedelta(hours=1)
    )
    lost = await store_event(email, "CLICK", link_position=0)
    fresh = await store_event(email, "CLICK", link_position=0)
    await TrackingEvent.filter(event_id=lost.event_id).update(
        rule=PENDING_RULE, occurred_at=datetime.now(UTC) - timedelta(minutes=10)
    )
    await TrackingEvent.filter(event_id=fresh.event_id).update(rule=PENDING_RULE)

    await sweep_pending_clicks.fn.__wrapped__(None)  # type: ignore[attr-defined]

    decided = await TrackingEvent.get(event_id=lost.event_id)
    assert (decided.rule, decided.source.value) == ("human", "HUMAN")
    assert (await SentEmail.get(id=email.id)).click_count == 1
    assert (await TrackingEvent.get(event_id=fresh.event_id)).rule == PENDING_RULE
