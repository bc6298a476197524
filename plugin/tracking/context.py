"""What storage knows around a batch of hits: copies, links, the sender's own clients,
and the same clients' other hits on the same copies (the classification context).

"Same client" is the same keyed hash of the full address *and* the same user
agent, never a truncated address: two people behind one /24 are two people.
Each loader answers a whole batch in one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from plugin.accounts.models import ApiToken
from plugin.runtime import Runtime
from plugin.sending.models import EmailCopy, TrackedLink
from plugin.tracking.classify import (
    ClassificationContext,
    ClassifierSettings,
    EventSource,
    HitKind,
    PriorHit,
)
from plugin.tracking.hits import EdgeHit
from plugin.tracking.models import TrackingEvent
from plugin.tracking.self_clients import self_clients_of
from plugin.tracking.store import PENDING_RULE, EventRow

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


async def load_copies(public_ids: Iterable[str]) -> dict[str, CopyInfo]:
    """The copies named by these public ids (unknown ids are simply absent)."""
    wanted = list(set(public_ids))
    if not wanted:
        return {}
    copies = await EmailCopy.filter(public_id__in=wanted).select_related("email")
    result = {}
    for copy in copies:
        email = copy.email
        if copy.recipient:
            recipients: tuple[str, ...] = (copy.recipient,)
        else:
            listed = copy.envelope_to or [
                *email.to_addresses,
                *email.cc_addresses,
                *email.bcc_addresses,
            ]
            recipients = tuple(str(address) for address in listed)
        result[copy.public_id] = CopyInfo(
            id=copy.id,
            public_id=copy.public_id,
            email_id=email.id,
            user_id=email.user_id,  # type: ignore[attr-defined]
            recipient=copy.recipient,
            accepted_at=copy.accepted_at,
            recipients=recipients,
        )
    return result


async def load_links(email_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, str]]:
    ids = list(set(email_ids))
    if not ids:
        return {}
    rows = await TrackedLink.filter(email_id__in=ids).values_list(
        "id", "email_id", "position", "url"
    )
    return {(email_id, position): (link_id, url) for link_id, email_id, position, url in rows}


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


class PriorIndex:
    """The same clients' hits per (copy, client hash, user agent), kept current while a
    batch is classified so that hits of one batch see each other."""

    def __init__(self) -> None:
        self._hits: dict[ClientKey, dict[str, PriorHit]] = defaultdict(dict)

    def put(self, key: ClientKey, event_id: str, prior: PriorHit) -> None:
        self._hits[key][event_id] = prior

    def context(
        self, key: ClientKey, event_id: str, accepted_at: datetime | None, *, is_self: bool
    ) -> ClassificationContext:
        same = [prior for other, prior in self._hits.get(key, {}).items() if other != event_id]
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
    wanted: Sequence[tuple[int, str, str, float]], cset: ClassifierSettings, links: LinkMap
) -> PriorIndex:
    """Stored hits of the same clients on the same copies around these times.

    ``wanted`` holds (copy id, client hash, user agent, UNIX time) per hit.
    """
    index = PriorIndex()
    if not wanted:
        return index
    before = timedelta(seconds=max(cset.duplicate_window_seconds, cset.burst_window_seconds))
    after = timedelta(seconds=cset.burst_window_seconds)
    keys = {(copy_id, chash, ua) for copy_id, chash, ua, _ in wanted}
    earliest = datetime.fromtimestamp(min(t for *_, t in wanted), UTC) - before
    latest = datetime.fromtimestamp(max(t for *_, t in wanted), UTC) + after
    positions = {link_id: position for (_, position), (link_id, _) in links.items()}
    rows = await TrackingEvent.filter(
        copy_id__in=list({k[0] for k in keys}),
        client_hash__in=list({k[1] for k in keys}),
        occurred_at__gte=earliest,
        occurred_at__lte=latest,
    ).values_list(
        "event_id",
        "copy_id",
        "client_hash",
        "user_agent",
        "kind",
        "occurred_at",
        "link_id",
        "honeypot",
        "source",
        "duplicate",
        "rule",
    )
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


def _hex(event_id: object) -> str:
    return (
        event_id.hex
        if hasattr(event_id, "hex") and not isinstance(event_id, str)
        else str(event_id).replace("-", "")
    )


def _value(value: object) -> str:
    return str(getattr(value, "value", value))
