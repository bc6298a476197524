"""Counted opens of one email by device type and by mail client.

Counted means what ``SentEmail.openCount`` counts: HUMAN, not a repeat. The
storage groups the email's counted opens by user agent (and rule, which names
Apple's proxy); each distinct user agent is parsed once (cached), then the groups
are added up. Events purged by retention leave the breakdown, while the email's
open count keeps them: the breakdown covers the events still kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tortoise.functions import Count

from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent
from plugin.tracking.pipeline.clients import client_for_event

__all__ = ["UNKNOWN_CLIENT", "OpenBreakdown", "open_breakdown"]

#: The client name of opens whose user agent names none.
UNKNOWN_CLIENT = "Unknown"


@dataclass(frozen=True)
class OpenBreakdown:
    """(name, count) pairs, most opens first, then by name."""

    by_device: list[tuple[str, int]]
    by_client: list[tuple[str, int]]


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


async def open_breakdown(email_id: int) -> OpenBreakdown:
    """The breakdown of one email's counted opens (the caller has scoped the email)."""
    groups = (
        await TrackingEvent.filter(
            email_id=email_id,
            kind=EventKind.OPEN,
            source=EventSourceField.HUMAN,
            duplicate=False,
        )
        .annotate(opens=Count("id"))
        .group_by("user_agent", "rule")
        .values("user_agent", "rule", "opens")
    )
    devices: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    for group in groups:
        client = client_for_event(str(group["user_agent"]), str(group["rule"]))
        opens = int(group["opens"])
        devices[client.device.value] += opens
        clients[client.name or UNKNOWN_CLIENT] += opens
    return OpenBreakdown(by_device=_ranked(devices), by_client=_ranked(clients))
