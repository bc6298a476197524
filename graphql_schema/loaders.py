"""Per-request DataLoaders: the links and events of a page of emails in one query per level.

Resolving ``links`` or ``events`` email by email costs one query each (a page of 100
emails asking both: 200 queries). The loaders batch every key asked for during one
tick of the event loop into one query. Loaders live in the request's context, so
their caches never outlive a request nor cross users; the queries themselves are
scoped to the request's user (``plugin.tracking.repository``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from graphql_schema.context import require_user
from plugin.sending.models import TrackedLink
from plugin.tracking.models import TrackingEvent
from plugin.tracking.repository import links_of, newest_events

__all__ = ["EventsKey", "Loaders", "loaders_of"]

_CONTEXT_KEY = "loaders"


@dataclass(frozen=True)
class EventsKey:
    """The newest ``limit`` shown events of one email."""

    email_id: int
    limit: int


class Loaders:
    """The DataLoaders of one request, scoped to its user."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id
        self.links: DataLoader[int, list[TrackedLink]] = DataLoader(load_fn=self._links)
        self.events: DataLoader[EventsKey, list[TrackingEvent]] = DataLoader(
            load_fn=self._events
        )

    async def _links(self, email_ids: list[int]) -> Sequence[list[TrackedLink]]:
        found = await links_of(self.owner_id, email_ids)
        return [found.get(email_id, []) for email_id in email_ids]

    async def _events(self, keys: list[EventsKey]) -> Sequence[list[TrackingEvent]]:
        by_limit: dict[int, list[int]] = defaultdict(list)
        for key in keys:
            by_limit[key.limit].append(key.email_id)
        found: dict[EventsKey, list[TrackingEvent]] = {}
        for limit, email_ids in by_limit.items():
            events = await newest_events(self.owner_id, email_ids, limit)
            for email_id, listed in events.items():
                found[EventsKey(email_id, limit)] = listed
        return [found.get(key, []) for key in keys]


def loaders_of(info: Info) -> Loaders:
    """This request's loaders, made on first use (HTTP and WebSocket contexts alike)."""
    context = info.context
    loaders: Loaders | None = context.get(_CONTEXT_KEY)
    if loaders is None:
        loaders = context[_CONTEXT_KEY] = Loaders(require_user(info).id)
    return loaders
