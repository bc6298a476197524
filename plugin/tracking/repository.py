"""What the Mail tab reads of tracking: an email's links, its newest events, its open breakdown.

Every function takes the owner's user id and filters on it: another user's email
id gives nothing (no error, no row), whoever asks. The lists take many email ids
at once so that the GraphQL loaders answer a page of emails in one query per level.

The recording pipeline's SQL is not here: it stays the pipeline's own store
(``plugin.tracking.pipeline.store`` for the writes and the stored-verdict reads,
``pipeline.batch_context`` for the loads of a batch's context, ``pipeline.sql`` for
their shared pieces). It runs for the system, not for a user: hits are keyed by
signed tokens, and the user is whoever owns the copy a token names. Its statements
are batch-shaped, dialect-specific and tuned with the pipeline (one statement text
whatever the batch size); they change with it, and no resolver or service calls them.

Counted opens (the breakdown) mean what ``SentEmail.openCount`` counts: HUMAN, not a
repeat. The storage groups the email's counted opens by user agent (and rule, which
names Apple's proxy); each distinct user agent is parsed once (cached), then the
groups are added up. Events purged by retention leave the breakdown, while the
email's open count keeps them: the breakdown covers the events still kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.functions import Count

from plugin.sending.models import TrackedLink
from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent
from plugin.tracking.pipeline.clients import client_for_event
from plugin.tracking.pipeline.store import PENDING_RULE

__all__ = ["UNKNOWN_CLIENT", "OpenBreakdown", "links_of", "newest_events", "open_breakdown"]

#: The client name of opens whose user agent names none.
UNKNOWN_CLIENT = "Unknown"


async def links_of(owner_id: int, email_ids: Sequence[int]) -> dict[int, list[TrackedLink]]:
    """The tracked links of the owner's emails among ``email_ids``, in position order (one
    query); another user's email has none."""
    found: dict[int, list[TrackedLink]] = defaultdict(list)
    links = TrackedLink.filter(email_id__in=list(email_ids), email__user_id=owner_id)
    for link in await links.order_by("email_id", "position"):
        found[link.email_id].append(link)  # type: ignore[attr-defined]
    return found


async def _newest_event_ids(owner_id: int, email_ids: list[int], limit: int) -> list[int]:
    """Ids of the newest ``limit`` shown events of each email: one window-function query."""
    connection = TrackingEvent._meta.db
    postgres = connection.capabilities.dialect == "postgres"
    values: list[object] = [*email_ids, owner_id, PENDING_RULE, limit]
    marks = [f"${i}" if postgres else "?" for i in range(1, len(values) + 1)]
    table = TrackingEvent._meta.db_table
    # A click held for its burst window ("pending") is not shown until it is decided.
    sql = (
        f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY email_id "  # noqa: S608
        f"ORDER BY occurred_at DESC, id DESC) AS position FROM {table} "
        f"WHERE email_id IN ({', '.join(marks[:-3])}) AND user_id = {marks[-3]} "
        f"AND rule <> {marks[-2]}) AS ranked WHERE position <= {marks[-1]}"
    )
    rows = await connection.execute_query_dict(sql, values)
    return [int(row["id"]) for row in rows]


async def newest_events(
    owner_id: int, email_ids: Sequence[int], limit: int
) -> dict[int, list[TrackingEvent]]:
    """The newest ``limit`` shown events of each of the owner's emails among ``email_ids``,
    newest first, each with its link (two queries); another user's email has none."""
    found: dict[int, list[TrackingEvent]] = defaultdict(list)
    ids = await _newest_event_ids(owner_id, sorted(set(email_ids)), limit)
    if not ids:
        return found
    events = (
        await TrackingEvent.filter(id__in=ids, user_id=owner_id)
        .order_by("-occurred_at", "-id")
        .select_related("link")
    )
    for event in events:
        found[event.email_id].append(event)  # type: ignore[attr-defined]
    return found


@dataclass(frozen=True)
class OpenBreakdown:
    """(name, count) pairs, most opens first, then by name."""

    by_device: list[tuple[str, int]]
    by_client: list[tuple[str, int]]


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


async def open_breakdown(owner_id: int, email_id: int) -> OpenBreakdown:
    """The breakdown of the counted opens of the owner's email (empty for another's)."""
    groups = (
        await TrackingEvent.filter(
            email_id=email_id,
            user_id=owner_id,
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
