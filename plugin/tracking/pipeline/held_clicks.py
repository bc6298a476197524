"""Deciding held clicks once their burst window has passed.

A click that looked human was stored as *pending* (not counted, not shown). Its
burst window has now passed, so every click of the same burst is stored: the
click is classified again with all of them in view, in time order with the same
client's other held clicks, and only then counted and announced. The pending ->
decided update is conditional, so a repeated or concurrent finalise decides and
counts each click exactly once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from plugin.hooks import RecordedEvent
from plugin.jobs import held_jobs
from plugin.settings import Settings
from plugin.tracking.models import TrackingEvent
from plugin.tracking.pipeline.after_commit import announce_committed, hand_to_notifications
from plugin.tracking.pipeline.batch_context import client_key, load_links, load_priors
from plugin.tracking.pipeline.classify import Hit, HitKind, classify
from plugin.tracking.pipeline.ingest import classifier_settings, recorded_event
from plugin.tracking.pipeline.store import (
    EventRow,
    bump_aggregates,
    finalise_event,
    held_clicks,
    held_targets,
    stale_pending_event_ids,
)
from plugin.transaction import transaction

__all__ = ["decide_held_clicks", "stale_pending_clicks"]

log = logging.getLogger(__name__)


def _uuids(event_ids: Sequence[str]) -> list[str]:
    ids = []
    for event_id in event_ids:
        try:
            ids.append(str(uuid.UUID(str(event_id))))
        except ValueError:
            log.warning("decide_held_clicks: ignoring a malformed event id")
    return ids


def _key(event: TrackingEvent) -> tuple[int, str, str]:
    return client_key(event.copy_id, event.client_hash, event.user_agent)  # type: ignore[attr-defined]


async def decide_held_clicks(event_ids: Sequence[str], settings: Settings) -> list[RecordedEvent]:
    """Decide these held clicks and the same clients' older held clicks; return the decided."""
    cset = classifier_settings(settings)
    targets = await held_targets(_uuids(event_ids))
    if not targets:
        return []
    until: dict[tuple[int, str, str], datetime] = {}
    for t in targets:
        key = client_key(t["copy_id"], t["client_hash"], t["user_agent"])
        until[key] = max(until.get(key, t["occurred_at"]), t["occurred_at"])
    candidates = await held_clicks(
        {k[0] for k in until}, {k[1] for k in until}, max(until.values())
    )
    held = [e for e in candidates if _key(e) in until and e.occurred_at <= until[_key(e)]]
    links = await load_links({e.copy.email_id for e in held})  # type: ignore[attr-defined]
    priors = await load_priors([(*_key(e), e.occurred_at.timestamp()) for e in held], cset, links)
    decided: list[tuple[int, EventRow]] = []
    for event in held:
        key = _key(event)
        position = 0 if event.honeypot else (event.link.position if event.link else None)
        verdict = classify(
            Hit(
                kind=HitKind.CLICK,
                method=event.method,
                user_agent=event.user_agent,
                client_ip="",
                occurred_at=event.occurred_at,
                link_index=position,
                honeypot=event.honeypot,
            ),
            priors.context(key, event.event_id.hex, event.copy.accepted_at, is_self=False),
            cset,
        )
        row = EventRow(
            event_id=event.event_id.hex,
            user_id=event.user_id,  # type: ignore[attr-defined]
            email_id=event.email_id,  # type: ignore[attr-defined]
            copy_id=key[0],
            link_id=event.link.id if event.link else None,
            kind="CLICK",
            source=verdict.source.value,
            rule=verdict.rule,
            duplicate=verdict.duplicate,
            honeypot=event.honeypot,
            recipient=event.recipient,
            occurred_at=event.occurred_at,
            method=event.method,
            user_agent=event.user_agent,
            client_hash=event.client_hash,
            client_prefix=event.client_prefix,
            url=event.link.url if event.link else None,
        )
        priors.replace(key, row, position)
        decided.append((event.id, row))
    moved: list[EventRow] = []
    # The notification job waits for the announcement as well as the commit: a retry of
    # this actor (the job's send failed) finds nothing pending, so the live messages and
    # hooks must not depend on the queue; a failed send still raises, after them.
    async with held_jobs():
        async with transaction() as conn:
            for row_id, row in decided:
                if await finalise_event(conn, row_id, row.source, row.rule, row.duplicate):
                    moved.append(row)
            await bump_aggregates(conn, [row for row in moved if row.counts])
            recorded = [recorded_event(row) for row in moved]
            await hand_to_notifications(recorded)
        await announce_committed(recorded, settings)
    return recorded


async def stale_pending_clicks(older_than: datetime, *, limit: int = 1000) -> list[str]:
    """Held clicks whose finalise message should long have come (it was lost): the sweep
    hands them to ``decide_held_clicks`` so that no click stays held for ever."""
    return await stale_pending_event_ids(older_than, limit)
