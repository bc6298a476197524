"""The live messages mailbeacon publishes besides tracking events: notifications."""

from __future__ import annotations

from plugin.live.bus import Message, publish
from plugin.notifications.models import Notification
from plugin.settings import Settings

__all__ = ["notification_message", "publish_notification"]


def notification_message(notification: Notification) -> Message:
    """Only ids travel: subscribers read the notification back, scoped to themselves."""
    return {
        "type": "notification",
        "notificationId": notification.id,
        "emailId": str(notification.email_id),  # type: ignore[attr-defined]
        "updatedAt": notification.updated_at.isoformat(),
    }


async def publish_notification(settings: Settings, notification: Notification) -> None:
    """Tell the owner's live subscribers that a notification was created or updated."""
    await publish(settings, [(notification.user_id, notification_message(notification))])  # type: ignore[attr-defined]
