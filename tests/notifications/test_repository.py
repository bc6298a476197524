"""The bell's owner queries: another user's notification ids find and change nothing."""

from __future__ import annotations

from plugin.notifications import repository
from plugin.notifications.batch import notify_for_events
from plugin.notifications.models import Notification
from tests.conftest import UserFactory
from tests.live.factories import make_email, store_event


async def test_another_users_notification_ids_find_and_change_nothing(
    make_user: UserFactory,
) -> None:
    owner, intruder = await make_user(), await make_user()
    email = await make_email(owner.id)
    [rung] = await notify_for_events([(await store_event(email)).event_id])

    assert list(await repository.get_notifications(owner.id, [rung.id])) == [rung.id]
    assert await repository.get_notifications(intruder.id, [rung.id]) == {}
    page = await repository.list_notifications(intruder.id, first=10)
    assert page.notifications == [] and page.total_count == 0
    assert await repository.unread_count(intruder.id) == 0
    assert await repository.mark_read(intruder.id, [rung.id]) == 0
    assert await repository.mark_read(intruder.id, None) == 0
    assert (await Notification.get(id=rung.id)).read_at is None

    assert await repository.unread_count(owner.id) == 1
    assert await repository.mark_read(owner.id, [rung.id]) == 1
