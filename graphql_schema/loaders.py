"""Per-request DataLoaders: the links and events of a page of emails in one query per level.

Resolving ``links`` or ``events`` email by email costs one query each (a page of 100
emails asking both: 200 queries). The loaders batch every key asked for during one
tick of the event loop into one query. Loaders live in the request's context, so
their caches never outlive a request nor cross users (the email ids they are given
come from the caller's own, owner-scoped emails).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from plugin.sending.models import TrackedLink
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.store import PENDING_RULE

__all__ = ["EventsKey", "Loaders", "loaders_of"]

_CONTEXT_KEY = "loaders"


@dataclass(frozen=True)
class EventsKey:
    """The newest ``limit`` shown events of one email."""

    email_id: int
    limit: int


async def _links(email_ids: list[int]) -> Sequence[list[TrackedLink]]:
    found: dict[int, list[TrackedLink]] = defaultdict(list)
    for link in await TrackedLink.filter(email_id__in=email_ids).order_by("email_id", "position"):
        found[link.email_id].append(link)  # type: ignore[attr-defined]
    return [found[email_id] for email_id in email_ids]


async def _newest_event_ids(email_ids: list[int], limit: int) -> list[int]:
    """Ids of the newest ``limit`` shown events of each email: one window-function query."""
    connection = TrackingEvent._meta.db
    postgres = connection.capabilities.dialect == "postgres"
    values: list[object] = [*email_ids, PENDING_RULE, limit]
    marks = [f"${i}" if postgres else "?" for i in range(1, len(values) + 1)]
    table = TrackingEvent._meta.db_table
    # A click held for its burst window ("pending") is not shown until it is decided.
    sql = (
        f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY email_id "  # noqa: S608
        f"ORDER BY occurred_at DESC, id DESC) AS position FROM {table} "
        f"WHERE email_id IN ({', '.join(marks[:-2])}) AND rule <> {marks[-2]}) AS ranked "
        f"WHERE position <= {marks[-1]}"
    )
    rows = await connection.execute_query_dict(sql, values)
    return [int(row["id"]) for row in rows]


async def _events(keys: list[EventsKey]) -> Sequence[list[TrackingEvent]]:
    by_limit: dict[int, list[int]] = defaultdict(list)
    for key in keys:
        by_limit[key.limit].append(key.email_id)
    found: dict[EventsKey, list[TrackingEvent]] = defaultdict(list)
    for limit, email_ids in by_limit.items():
        ids = await _newest_event_ids(sorted(set(email_ids)), limit)
        if not ids:
            continue
        events = (
            await TrackingEvent.filter(id__in=ids)
            .order_by("-occurred_at", "-id")
            .select_related("link")
        )
        for event in events:
            found[EventsKey(event.email_id, limit)].append(event)  # type: ignore[attr-defined]
    return [found[key] for key in keys]


class Loaders:
    """The DataLoaders of one request."""

    def __init__(self) -> None:
        self.links: DataLoader[int, list[TrackedLink]] = DataLoader(load_fn=_links)
        self.events: DataLoader[EventsKey, list[TrackingEvent]] = DataLoader(load_fn=_events)


def loaders_of(info: Info) -> Loaders:
    """This request's loaders, made on first use (HTTP and WebSocket contexts alike)."""
    context = info.context
    loaders: Loaders | None = context.get(_CONTEXT_KEY)
    if loaders is None:
        loaders = context[_CONTEXT_KEY] = Loaders()
    return loaders
