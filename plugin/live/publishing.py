"""The live messages mailbeacon publishes besides tracking events: notifications."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from plugin.live.bus import Message, publish
from plugin.settings import Settings

__all__ = ["notification_message", "publish_notification", "publish_notifications"]


class RungBell(Protocol):
    """What a live notification message is made of (a stored Notification, or a batch's)."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> int: ...

    @property
    def email_id(self) -> int: ...

    @property
    def updated_at(self) -> datetime: ...


def notification_message(notification: RungBell) -> Message:
    """Only ids travel: subscribers read the notification back, scoped to themselves."""
    return {
        "type": "notification",
        "notificationId": notification.id,
        "emailId": str(notification.email_id),
        "updatedAt": notification.updated_at.isoformat(),
    }


async def publish_notifications(settings: Settings, notifications: Iterable[RungBell]) -> None:
    """Tell the owners' live subscribers, in one publish, that these were created or updated."""
    items = [(n.user_id, notification_message(n)) for n in notifications]
    await publish(settings, items)


async def publish_notification(settings: Settings, notification: RungBell) -> None:
    """Tell the owner's live subscribers that a notification was created or updated."""
    await publish_notifications(settings, [notification])
