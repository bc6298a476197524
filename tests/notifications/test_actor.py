"""The notification actor's mechanics on the embedded broker: idempotency, retries, dead letters."""

from __future__ import annotations

import logging

import pytest

from plugin.notifications.models import Notification
from plugin.runtime import current_runtime
from tests.conftest import UserFactory
from tests.live.factories import drain_notifications, make_email, store_event


def _actor():  # type: ignore[no-untyped-def]
    return current_runtime().broker.get_actor("notify_tracking_event")


async def test_a_redelivered_message_changes_nothing(make_user: UserFactory) -> None:
    user = await make_user()
    event = await store_event(await make_email(user.id))
    for _ in range(3):  # at-least-once delivery: the same message, three times
        _actor().send(event.event_id)
    await drain_notifications(fail_fast=True)
    notification = await Notification.get(user_id=user.id)
    assert notification.count == 1
    from plugin.tracking.models import TrackingEvent

    assert (await TrackingEvent.get(event_id=event.event_id)).notified is True


async def test_a_poisoned_message_is_dead_lettered_at_once_with_a_log_line(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = await drain_notifications()
    with caplog.at_level(logging.ERROR, logger="mailbeacon.notifications"):
        message = _actor().send("not-a-uuid")
        await drain_notifications()
    dead = [m.message_id for m in broker.dead_letters_by_queue["notifications"]]
    broker.dead_letters_by_queue["notifications"].clear()  # other tests join with fail_fast
    assert message.message_id in dead
    assert any("poisoned" in r.getMessage() for r in caplog.records)


async def test_a_failing_message_is_retried_then_dead_lettered_not_looped(server: str) -> None:
    broker = await drain_notifications()
    # Wrong arguments fail on every attempt: the retries run out and the message rests.
    message = _actor().send_with_options(
        args=("a", "b"), max_retries=2, min_backoff=10, max_backoff=20
    )
    await drain_notifications()
    letters = broker.dead_letters_by_queue["notifications"]
    dead = [m for m in letters if m.message_id == message.message_id]
    letters.clear()  # other tests join with fail_fast
    assert len(dead) == 1 and dead[0].options.get("retries") == 3


async def test_a_batch_skips_a_poisoned_id_and_notifies_the_rest(make_user: UserFactory) -> None:
    from plugin.live.after_commit import NOTIFY_EVENTS

    user = await make_user()
    event = await store_event(await make_email(user.id))
    batch = current_runtime().broker.get_actor(NOTIFY_EVENTS.name)
    batch.send(["not-a-uuid", event.event_id])
    batch.send([event.event_id])  # redelivery of part of a batch changes nothing
    await drain_notifications(fail_fast=True)
    assert (await Notification.get(user_id=user.id)).count == 1
