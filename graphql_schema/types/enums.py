"""The contract's enums."""

from __future__ import annotations

from enum import Enum

import strawberry

__all__ = ["ConsentStatus", "EmailStatus", "EventSource", "NotificationKind", "TrackingEventKind"]


@strawberry.enum
class EmailStatus(Enum):
    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@strawberry.enum
class TrackingEventKind(Enum):
    OPEN = "OPEN"
    CLICK = "CLICK"


@strawberry.enum(description="Who most likely caused an event.")
class EventSource(Enum):
    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    BOT = "BOT"
    SELF = "SELF"


@strawberry.enum
class NotificationKind(Enum):
    EMAIL_OPENED = "EMAIL_OPENED"
    LINK_CLICKED = "LINK_CLICKED"


@strawberry.enum
class ConsentStatus(Enum):
    UNKNOWN = "UNKNOWN"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    WITHDRAWN = "WITHDRAWN"
