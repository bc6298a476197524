"""The bell's batch path: one statement for the bumps, one for the new groups, both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise import timezone
from tortoise.transactions import in_transaction

from plugin.accounts.models import User
from plugin.hooks import RecordedEvent
from plugin.live.bus import current_bus
from plugin.live.publishing import notification_message
from plugin.notifications.batch import notify_for_events
from plugin.notifications.models import Notification, NotificationKind
from plugin.preferences.service import PreferenceChanges, update_preferences
from plugin.sending.models import SentEmail
from plugin.tracking.models import TrackingEvent
from tests.conftest import UserFactory, backend
from tests.live.factories import drain_notifications, make_email, store_event

READERS = tuple(f"r{n}@example.net" for n in range(6))


def ids(events: list[RecordedEvent]) -> list[str]:
    return [event.event_id for event in events]


async def unread(user_id: int) -> list[tuple[Any, ...]]:
    rows = await Notification.filter(user_id=user_id, read_at__isnull=True).order_by("id")
    return [(n.email_id, n.kind, n.link_id, n.recipient, n.count) for n in rows]  # type: ignore[attr-defined]


async def test_one_batch_bumps_existing_groups_and_creates_new_ones(
    make_user: UserFactory,
) -> None:
    user = await make_user()
    emails = [await make_email(user.id) for _ in range(4)]
    copies = await make_email(user.id, recipients=READERS[:3], per_recipient=True)
    clicks = await make_email(user.id, links=("https://example.org/a", "https://example.org/b"))
    # Groups that already have an unread notification: emails 0 and 1, reader r0, link a.
    first = [
        await store_event(emails[0]),
        await store_event(emails[1]),
        await store_event(copies, recipient=READERS[0]),
        await store_event(clicks, "CLICK", link_position=0),
    ]
    before = {n.id: n for n in await Notification.filter(user_id=user.id)}
    assert before == {}
    assert len(await notify_for_events(ids(first))) == 4
    existing = {n.id for n in await Notification.filter(user_id=user.id)}

    batch = [
        *[await store_event(email) for email in emails],  # 2 bumps, 2 new
        await store_event(emails[0]),  # a second event of one group in the same batch
        *[await store_event(copies, recipient=reader) for reader in READERS[:3]],
        await store_event(clicks, "CLICK", link_position=1),
        await store_event(clicks, "CLICK", link_position=0),
        await store_event(clicks),  # an open of the clicked email: its own group
    ]
    rung = await notify_for_events(ids(batch))

    assert [n.id for n in rung] == sorted(n.id for n in rung)
    assert {n.id for n in rung if not n.created} == existing
    assert len({n.updated_at for n in rung}) == 1
    assert len(rung) == 10  # the distinct groups this batch touched
    rows = {(e, k, link, r): c for e, k, link, r, c in await unread(user.id)}
    link_a, link_b = [
        link.id for link in await clicks.links.all().order_by("position")  # type: ignore[attr-defined]
    ]
    assert rows == {
        (emails[0].id, NotificationKind.EMAIL_OPENED, None, None): 3,
        (emails[1].id, NotificationKind.EMAIL_OPENED, None, None): 2,
        (emails[2].id, NotificationKind.EMAIL_OPENED, None, None): 1,
        (emails[3].id, NotificationKind.EMAIL_OPENED, None, None): 1,
        (copies.id, NotificationKind.EMAIL_OPENED, None, READERS[0]): 2,
        (copies.id, NotificationKind.EMAIL_OPENED, None, READERS[1]): 1,
        (copies.id, NotificationKind.EMAIL_OPENED, None, READERS[2]): 1,
        (clicks.id, NotificationKind.LINK_CLICKED, link_a, None): 2,
        (clicks.id, NotificationKind.LINK_CLICKED, link_b, None): 1,
        (clicks.id, NotificationKind.EMAIL_OPENED, None, None): 1,
    }
    new_click = await Notification.get(link_id=link_b)
    assert new_click.url == "https://example.org/b"
    # What the live channel is told is what reading the rows back would have said.
    for notification in rung:
        stored = await Notification.get(id=notification.id)
        assert stored.user_id == notification.user_id  # type: ignore[attr-defined]
        assert notification_message(notification) == notification_message(stored)  # type: ignore[arg-type]
        assert stored.created_at <= stored.updated_at


async def test_a_redelivered_batch_rings_nothing_and_changes_nothing(
    make_user: UserFactory,
) -> None:
    user = await make_user()
    email = await make_email(user.id, recipients=READERS, per_recipient=True)
    batch = [await store_event(email, recipient=reader) for reader in READERS]
    assert len(await notify_for_events(ids(batch))) == len(READERS)
    state = await unread(user.id)
    assert await notify_for_events(ids(batch)) == []
    assert await notify_for_events([*ids(batch[:2]), "not-a-uuid"]) == []
    assert await unread(user.id) == state


async def test_muted_owners_are_claimed_but_never_rung(make_user: UserFactory) -> None:
    loud, quiet = await make_user(), await make_user()
    await update_preferences(
        await User.get(id=quiet.id), PreferenceChanges(notifications_enabled=False)
    )
    loud_email, quiet_email = await make_email(loud.id), await make_email(quiet.id)
    batch = [await store_event(loud_email), await store_event(quiet_email)]
    rung = await notify_for_events(ids(batch))
    assert [(n.user_id, n.email_id, n.created) for n in rung] == [(loud.id, loud_email.id, True)]
    assert await Notification.filter(user_id=quiet.id).count() == 0
    claimed = await TrackingEvent.filter(event_id__in=ids(batch)).values_list("notified", flat=True)
    assert list(claimed) == [True, True]  # switching the bell back on never rings old events


async def test_a_group_read_since_it_rang_starts_a_new_notification(
    make_user: UserFactory,
) -> None:
    user = await make_user()
    email = await make_email(user.id)
    [first] = await notify_for_events(ids([await store_event(email)]))
    await Notification.filter(id=first.id).update(read_at=timezone.now())
    [second] = await notify_for_events(ids([await store_event(email), await store_event(email)]))
    assert second.created and second.id != first.id
    assert [c for *_, c in await unread(user.id)] == [2]


async def test_concurrent_batches_of_one_email_never_split_a_group_nor_deadlock(
    make_user: UserFactory,
) -> None:
    """Batches of one hot email, in opposite recipient orders, at the same instant.

    On PostgreSQL they run on separate connections: without the per-email lock two of
    them create the same group twice, or deadlock bumping rows in opposite orders.
    """
    user = await make_user()
    email = await make_email(user.id, recipients=READERS, per_recipient=True)
    rounds, per_batch = 6, 4
    for _ in range(rounds):
        batches = []
        for n in range(per_batch):
            readers = READERS if n % 2 == 0 else tuple(reversed(READERS))
            batches.append([await store_event(email, recipient=r) for r in readers])
        results = await asyncio.gather(*(notify_for_events(ids(b)) for b in batches))
        assert sum(len(rung) for rung in results) == per_batch * len(READERS)
    rows = await unread(user.id)
    assert [(r, c) for *_, r, c in rows] == [(r, rounds * per_batch) for r in READERS]


@pytest.mark.skipif(backend() != "postgres", reason="SQLite has one writer at a time anyway")
async def test_the_bell_does_not_wait_for_a_batch_recording_the_same_email(
    make_user: UserFactory,
) -> None:
    """Recording holds the email row (its figures) to commit; the bell must not queue on it."""
    user = await make_user()
    email = await make_email(user.id)
    event = await store_event(email)
    async with in_transaction() as conn:
        await SentEmail.filter(id=email.id).using_db(conn).update(open_count=1)
        rung = await asyncio.wait_for(notify_for_events([event.event_id]), 10)
    assert [n.email_id for n in rung] == [email.id]


async def test_the_actor_publishes_a_batchs_notifications_in_one_call(
    make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plugin.live.publishing as publishing
    from plugin.live.after_commit import NOTIFY_EVENTS
    from plugin.runtime import current_runtime

    calls: list[list[tuple[int, dict[str, Any]]]] = []
    real = publishing.publish

    async def spy(settings: Any, items: Any) -> None:
        calls.append(list(items))
        await real(settings, items)

    monkeypatch.setattr(publishing, "publish", spy)
    user = await make_user()
    emails = [await make_email(user.id) for _ in range(3)]
    batch = [await store_event(email) for email in emails]
    async with current_bus().subscribe(user.id) as subscription:
        current_runtime().broker.get_actor(NOTIFY_EVENTS.name).send(ids(batch))
        await drain_notifications(fail_fast=True)
        got = [await asyncio.wait_for(subscription.get(), 5) for _ in emails]
    assert len(calls) == 1 and [user_id for user_id, _ in calls[0]] == [user.id] * 3
    stored = await Notification.filter(user_id=user.id).order_by("id")
    assert got == [notification_message(n) for n in stored]  # type: ignore[arg-type]
