"""The local hub: bounded per-subscriber queues, never blocking the publisher."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from plugin.live.hub import Hub


async def test_a_full_subscriber_drops_with_a_warning_and_others_still_receive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub(queue_size=2)
    stuck, healthy = hub.add(7), hub.add(7)
    with caplog.at_level(logging.WARNING, logger="mailbeacon.live"):
        for n in range(5):
            assert hub.deliver(7, {"n": n}) == 2
            assert (await healthy.get()) == {"n": n}
    assert stuck.dropped == 3 and stuck.queue.qsize() == 2
    assert [r for r in caplog.records if "too slow" in r.getMessage()]
    hub.remove(stuck)
    hub.remove(healthy)
    assert hub.subscriber_count() == 0


async def test_delivery_from_another_thread_lands_on_the_subscribers_loop() -> None:
    hub = Hub()
    subscription = hub.add(1)
    thread = threading.Thread(target=lambda: hub.deliver(1, {"from": "worker"}))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(subscription.get(), 5) == {"from": "worker"}
    assert hub.deliver(2, {"nobody": True}) == 0


async def test_get_ready_takes_the_next_message_and_everything_queued_behind_it() -> None:
    hub = Hub()
    subscription = hub.add(3)
    hub.deliver_many(3, [{"n": 1}, {"n": 2}])
    hub.deliver(3, {"n": 3})
    assert await subscription.get_ready() == [{"n": 1}, {"n": 2}, {"n": 3}]
    waiting = asyncio.create_task(subscription.get_ready())
    await asyncio.sleep(0)
    hub.deliver(3, {"n": 4})
    assert await asyncio.wait_for(waiting, 5) == [{"n": 4}]
    hub.remove(subscription)


async def test_a_subscription_of_some_types_never_queues_the_others() -> None:
    hub = Hub(queue_size=2)
    events = hub.add(4, frozenset({"event"}))
    everything = hub.add(4)
    bell = [{"type": "notification", "n": n} for n in range(5)]
    assert hub.deliver_many(4, [*bell, {"type": "event", "n": 9}]) == 2
    assert events.queue.qsize() == 1 and events.dropped == 0  # the bell took no place
    assert await events.get() == {"type": "event", "n": 9}
    assert everything.dropped == 4
    hub.remove(events)
    hub.remove(everything)
