# ruff: noqa: S608 - the SQL formats in only this module's table/column names and placeholders.
"""What storage knows around a batch of hits: copies, links, the sender's own clients,
and the same clients' other hits on the same copies (the classification context).

"Same client" is the same keyed hash of the full address *and* the same user
agent, never a truncated address: two people behind one /24 are two people.
Each loader answers a whole batch in one query.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection

from plugin.accounts.models import ApiToken
from plugin.runtime import Runtime
from plugin.tracking.edge.hits import EdgeHit
from plugin.tracking.pipeline.classify import (
    ClassificationContext,
    ClassifierSettings,
    EventSource,
    HitKind,
    PriorHit,
)
from plugin.tracking.pipeline.self_clients import self_clients_of
from plugin.tracking.pipeline.sql import Query, as_bool, as_datetime
from plugin.tracking.pipeline.store import PENDING_RULE, EventRow

__all__ = [
    "ClientKey",
    "CopyInfo",
    "PriorIndex",
    "client_key",
    "load_copies",
    "load_links",
    "load_priors",
    "self_event_ids",
]

ClientKey = tuple[int, str, str]  # (copy id, client hash, user agent)
LinkMap = Mapping[tuple[int, int], tuple[int, str]]  # (email id, position) -> (link id, url)


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):  # a related JSON field may come back undecoded
        value = json.loads(value)
    return list(value) if isinstance(value, list) else []


def client_key(copy_id: int, chash: str, user_agent: str) -> ClientKey:
    return (copy_id, chash, user_agent)


@dataclass(frozen=True)
class CopyInfo:
    id: int
    public_id: str
    email_id: int
    user_id: int
    recipient: str | None
    accepted_at: datetime | None
    recipients: tuple[str, ...]  # whom the copy went to (for the consent gate)


_COPIES_SQL = (
    "SELECT c.id, c.public_id, c.email_id, c.recipient, c.accepted_at, c.envelope_to, "
    "e.user_id, e.to_addresses, e.cc_addresses, e.bcc_addresses "
    "FROM mb_email_copy c JOIN mb_sent_email e ON e.id = c.email_id "
    "WHERE {among} AND c.tracking_stopped_at IS NULL"
)


def _default_conn() -> BaseDBAsyncClient:
    return get_connection("default")


async def load_copies(
    public_ids: Iterable[str], conn: BaseDBAsyncClient | None = None
) -> dict[str, CopyInfo]:
    """The copies named by these public ids (unknown ids are simply absent).

    A copy whose tracking a recipient stopped (its message-level consent link) is as
    good as unknown: its hits are dropped.
    """
    wanted = sorted(set(public_ids))
    if not wanted:
        return {}
    conn = conn or _default_conn()
    query = Query(conn)
    sql = _COPIES_SQL.format(among=query.among("c.public_id", wanted, "text"))
    result = {}
    for row in await conn.execute_query_dict(sql, query.params):
        if row["recipient"]:
            recipients: tuple[str, ...] = (row["recipient"],)
        else:
            listed = _json_list(row["envelope_to"]) or [
                *_json_list(row["to_addresses"]),
                *_json_list(row["cc_addresses"]),
                *_json_list(row["bcc_addresses"]),
            ]
            recipients = tuple(str(address) for address in listed)
        result[row["public_id"]] = CopyInfo(
            id=int(row["id"]),
            public_id=row["public_id"],
            email_id=int(row["email_id"]),
            user_id=int(row["user_id"]),
            recipient=row["recipient"],
            accepted_at=as_datetime(row["accepted_at"]),
            recipients=recipients,
        )
    return result


async def load_links(
    email_ids: Iterable[int], conn: BaseDBAsyncClient | None = None
) -> dict[tuple[int, int], tuple[int, str]]:
    ids = sorted(set(email_ids))
    if not ids:
        return {}
    conn = conn or _default_conn()
    query = Query(conn)
    sql = (
        "SELECT id, email_id, position, url FROM mb_tracked_link "
        f"WHERE {query.among('email_id', ids, 'int')}"
    )
    rows = await conn.execute_query_dict(sql, query.params)
    return {
        (int(row["email_id"]), int(row["position"])): (int(row["id"]), str(row["url"]))
        for row in rows
    }


async def self_event_ids(
    runtime: Runtime, hits: Sequence[EdgeHit], copies: Mapping[str, CopyInfo]
) -> set[str]:
    """Hits by the sender: carrying its API token, or from one of its recent API clients."""
    credentials = {hit.credential for hit in hits if hit.credential}
    token_users: dict[str, int] = {}
    if credentials:
        rows = await ApiToken.filter(token_hash__in=list(credentials), revoked_at=None).values_list(
            "token_hash", "user_id"
        )
        token_users = {str(token_hash): int(user_id) for token_hash, user_id in rows}
    keys = {(copies[hit.copy_id].user_id, hit.client_ip, hit.user_agent) for hit in hits}
    seen = await self_clients_of(runtime).seen(keys)
    result = set()
    for hit in hits:
        owner = copies[hit.copy_id].user_id
        carries_token = bool(hit.credential) and token_users.get(hit.credential or "") == owner
        if carries_token or (owner, hit.client_ip, hit.user_agent) in seen:
            result.add(hit.event_id)
    return result


_MAX_PRIOR_CLICKS = 2000


class PriorIndex:
    """The same clients' hits per (copy, client hash, user agent), kept current while a
    batch is classified so that hits of one batch see each other.

    Bounded: per client, only the latest few hits of each kind of hit (kind, link,
    honeypot, source, counted or not) are kept. Every rule asks whether *some* such
    hit lies within a window, which the latest ones answer; a client flooding one
    pixel thus costs constant work per hit instead of work growing with the flood.
    """

    _KEEP = 8

    def __init__(self) -> None:
        self._hits: dict[ClientKey, dict[tuple[Any, ...], dict[str, PriorHit]]] = defaultdict(dict)
        self._where: dict[str, tuple[ClientKey, tuple[Any, ...]]] = {}

    def put(self, key: ClientKey, event_id: str, prior: PriorHit) -> None:
        old = self._where.pop(event_id, None)
        if old is not None:
            self._hits[old[0]][old[1]].pop(event_id, None)
        signature = (prior.kind, prior.link_index, prior.honeypot, prior.source, prior.duplicate)
        bucket = self._hits[key].setdefault(signature, {})
        bucket[event_id] = prior
        self._where[event_id] = (key, signature)
        if len(bucket) > self._KEEP:
            oldest = min(bucket, key=lambda other: bucket[other].occurred_at)
            del bucket[oldest]
            self._where.pop(oldest, None)

    def context(
        self, key: ClientKey, event_id: str, accepted_at: datetime | None, *, is_self: bool
    ) -> ClassificationContext:
        same = [
            prior
            for bucket in self._hits.get(key, {}).values()
            for other, prior in bucket.items()
            if other != event_id
        ]
        return ClassificationContext(
            accepted_at=accepted_at, is_self=is_self, same_client_hits=same
        )

    def add(self, key: ClientKey, row: EventRow, link_index: int | None) -> None:
        """Record a just-classified row (held clicks are not counted, hence duplicate=True)."""
        self.put(
            key,
            row.event_id,
            _prior(
                row.kind,
                row.occurred_at,
                link_index,
                row.honeypot,
                row.source,
                row.duplicate or row.rule == PENDING_RULE,
            ),
        )

    replace = add


def _prior(
    kind: str,
    occurred_at: datetime,
    link_index: int | None,
    honeypot: bool,
    source: str,
    not_counted: bool,
) -> PriorHit:
    return PriorHit(
        kind=HitKind(kind),
        occurred_at=occurred_at,
        link_index=link_index,
        honeypot=honeypot,
        source=EventSource(source),
        duplicate=not_counted,
    )


async def load_priors(
    wanted: Sequence[tuple[int, str, str, float]],
    cset: ClassifierSettings,
    links: LinkMap,
    conn: BaseDBAsyncClient | None = None,
) -> PriorIndex:
    """Stored hits of the same clients on the same copies around these times.

    ``wanted`` holds (copy id, client hash, user agent, UNIX time) per hit.
    """
    index = PriorIndex()
    if not wanted:
        return index
    before = timedelta(seconds=max(cset.duplicate_window_seconds, cset.burst_window_seconds))
    # Later hits too: an open stored before an earlier one of its client makes it the repeat.
    after = before
    keys = {(copy_id, chash, ua) for copy_id, chash, ua, _ in wanted}
    earliest = datetime.fromtimestamp(min(t for *_, t in wanted), UTC) - before
    latest = datetime.fromtimestamp(max(t for *_, t in wanted), UTC) + after
    positions = {link_id: position for (_, position), (link_id, _) in links.items()}
    # Only two kinds of stored hits matter to the rules: counted human hits (duplicates)
    # and clicks (bursts, honeypot). Uncounted opens, the bulk of any flood, are not read;
    # a flood of clicks is read up to a bound (the latest ones, which the rules need).
    conn = conn or _default_conn()  # the caller's transaction (it holds the copies' locks)
    counted = await _prior_rows(conn, keys, earliest, latest, counted=True)
    clicks = await _prior_rows(conn, keys, earliest, latest, counted=False)
    rows = sorted({row[0]: row for row in [*counted, *clicks]}.values(), key=lambda row: row[5])
    for event_id, copy_id, chash, ua, kind, when, link_id, honeypot, source, dup, rule in rows:
        key = (copy_id, chash, ua)
        if key not in keys:
            continue
        position = 0 if honeypot else positions.get(link_id) if link_id is not None else None
        index.put(
            key,
            _hex(event_id),
            _prior(
                _value(kind),
                when,
                position,
                bool(honeypot),
                _value(source),
                bool(dup) or rule == PENDING_RULE,
            ),
        )
    return index


_PRIOR_COLUMNS = (
    "e.event_id, e.copy_id, e.client_hash, e.user_agent, e.kind, e.occurred_at, e.link_id, "
    "e.honeypot, e.source, e.duplicate, e.rule"
)


async def _prior_rows(
    conn: BaseDBAsyncClient,
    keys: set[ClientKey],
    earliest: datetime,
    latest: datetime,
    *,
    counted: bool,
) -> list[tuple[Any, ...]]:
    """Stored hits of these clients on these copies in the window: the counted ones, or
    the latest clicks (at most ``_MAX_PRIOR_CLICKS``)."""
    query = Query(conn)
    pairs = sorted({(key[0], key[1]) for key in keys})
    if query.postgres:
        # Each exact (copy, client) pair probes the (copy_id, client_hash, occurred_at)
        # index on its own (LATERAL with OFFSET 0, which the planner cannot flatten into
        # a hash join: a nested loop whatever the statistics say). With
        # ``copy_id = ANY(..) AND client_hash = ANY(..)`` the planner scanned every event
        # of the time window instead: 0.9 s a batch under a prepared statement's generic
        # plan, against 2 ms for the probes (100,000 events in the window; bench/README.md).
        source = (
            f"unnest({query.value([p[0] for p in pairs])}::int[], "
            f"{query.value([p[1] for p in pairs])}::text[]) AS k(copy_id, client_hash) "
            "CROSS JOIN LATERAL (SELECT * FROM mb_tracking_event t "
            "WHERE t.copy_id = k.copy_id AND t.client_hash = k.client_hash "
            f"AND t.occurred_at >= {query.value(earliest)} "
            f"AND t.occurred_at <= {query.value(latest)} OFFSET 0) AS e"
        )
        where = []
    else:  # SQLite expands both IN lists over the same index
        source = "mb_tracking_event e"
        where = [
            query.among("e.copy_id", sorted({pair[0] for pair in pairs}), "int"),
            query.among("e.client_hash", sorted({pair[1] for pair in pairs}), "text"),
            f"e.occurred_at >= {query.value(earliest)}",
            f"e.occurred_at <= {query.value(latest)}",
        ]
    if counted:
        where.append(
            f"e.source = 'HUMAN' AND e.duplicate = {query.value(False)} "
            f"AND e.rule <> {query.value(PENDING_RULE)}"
        )
        tail = ""
    else:
        where.append("e.kind = 'CLICK'")
        tail = f" ORDER BY e.occurred_at DESC, e.id DESC LIMIT {_MAX_PRIOR_CLICKS}"
    sql = f"SELECT {_PRIOR_COLUMNS} FROM {source} WHERE {' AND '.join(where)}{tail}"
    rows = await conn.execute_query_dict(sql, query.params)
    return [
        (
            row["event_id"],
            int(row["copy_id"]),
            row["client_hash"],
            row["user_agent"],
            row["kind"],
            as_datetime(row["occurred_at"]),
            row["link_id"],
            as_bool(row["honeypot"]),
            row["source"],
            as_bool(row["duplicate"]),
            row["rule"],
        )
        for row in rows
    ]


def _hex(event_id: object) -> str:
    return str(event_id).replace("-", "")  # a UUID (PostgreSQL) or its text (SQLite)


def _value(value: object) -> str:
    return str(getattr(value, "value", value))
