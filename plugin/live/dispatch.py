"""What happens after tracking events are committed: publish, notify, run host hooks.

The tracking pipeline calls ``after_events_committed`` once per committed batch.
(Owned by the live-notifications work; until it lands this only runs the hooks.)
"""

from __future__ import annotations

from collections.abc import Sequence

from plugin.hooks import RecordedEvent, registry

__all__ = ["after_events_committed"]


async def after_events_committed(events: Sequence[RecordedEvent]) -> None:
    for event in events:
        await registry.call_all("after_tracking_event", event)
