"""People versus machines: classify a pixel or redirect hit (DESIGN.md 2).

Pure functions: the caller passes the hit, what storage knows about the same
client's other hits on the same email copy, and the thresholds. Each rule is a
small predicate; :func:`classify` applies them in this order, first match wins:

1. ``self``: the sender's own client (decided by the caller) -> SELF.
2. ``honeypot``: a click on the hidden link no person can see -> BOT.
3. ``head-request``: HEAD fetches headers only; no person's client does that.
4. ``empty-user-agent``: every mail client and browser sends one.
5. ``apple-mpp`` (opens): Apple Mail Privacy Protection prefetching on delivery.
   ``bare-user-agent`` (clicks): a bare ``Mozilla/5.0`` is no browser either.
6. User-agent lists (``data/user_agents.yaml``), unless the UA is a human image
   proxy (Gmail, Yahoo): ``scanner-ua``, ``headless-browser``, ``crawler``,
   ``http-library``, ``prefetcher``.
7. ``honeypot-burst``: the same client hit the honeypot within the burst window,
   before or after this hit.
8. Clicks only: ``scanner-window`` (within seconds of the SMTP acceptance), then
   ``burst`` (several different links within the burst window).
9. ``human``: everything else. A human hit repeating the same client's counted
   human open (or click on the same link) within the duplicate window is
   ``duplicate=True``: stored, not counted.

Rules 2-8 give MACHINE for opens and BOT for clicks.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from plugin.tracking.edge.hits import HitKind  # (defined with the wire format; re-exported)
from plugin.tracking.pipeline.user_agents import (
    UserAgentRules,
    is_crawler,
    is_headless,
    is_http_library,
    is_human_proxy,
    is_prefetcher,
    is_scanner_ua,
    load_user_agent_rules,
    machine_user_agent_rule,
)

__all__ = [
    "DEFAULT_APPLE_NETWORKS",
    "ClassificationContext",
    "ClassifierSettings",
    "EventSource",
    "Hit",
    "HitKind",
    "IPNetwork",
    "PriorHit",
    "UserAgentRules",
    "Verdict",
    "classify",
    "in_apple_network",
    "in_honeypot_burst",
    "is_apple_mpp",
    "is_bare_user_agent",
    "is_crawler",
    "is_duplicate",
    "is_duplicate_click",
    "is_duplicate_open",
    "is_empty_user_agent",
    "is_head",
    "is_headless",
    "is_http_library",
    "is_human_proxy",
    "is_link_burst",
    "is_prefetcher",
    "is_scanner_ua",
    "load_user_agent_rules",
    "machine_user_agent_rule",
    "within_scanner_window",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Apple's own address block, from which Mail Privacy Protection fetches.
DEFAULT_APPLE_NETWORKS: tuple[IPNetwork, ...] = (ipaddress.ip_network("17.0.0.0/8"),)


class EventSource(StrEnum):
    """Who caused a hit. Only HUMAN events are counted."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    BOT = "BOT"
    SELF = "SELF"


def _require_aware(value: datetime | None, name: str) -> None:
    # Naive and aware datetimes cannot be compared: fail where the mistake is made.
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")


@dataclass(frozen=True)
class ClassifierSettings:
    """Thresholds of the classifier (all seconds; ``ValueError`` if negative)."""

    apple_networks: tuple[IPNetwork, ...] = DEFAULT_APPLE_NETWORKS
    #: A click this soon after the SMTP server accepted the mail is a scanner.
    scanner_window_seconds: float = 10.0
    #: Several different links clicked by one client within this window: a scanner.
    burst_window_seconds: float = 2.0
    #: The same client fetching the same pixel again within this: a duplicate.
    duplicate_window_seconds: float = 10.0

    def __post_init__(self) -> None:
        for name in ("scanner_window_seconds", "burst_window_seconds", "duplicate_window_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")


@dataclass(frozen=True)
class Hit:
    """One request to the pixel or the redirect, as the endpoint saw it."""

    kind: HitKind
    method: str
    user_agent: str
    #: Raw address: only ever held in memory, hence kept out of repr (and logs).
    client_ip: str = field(repr=False)
    occurred_at: datetime
    link_index: int | None = None
    honeypot: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.occurred_at, "Hit.occurred_at")


@dataclass(frozen=True)
class PriorHit:
    """Another hit on the same email copy by the same client (full address + UA).

    ``duplicate`` is the stored verdict's flag: only non-duplicate HUMAN hits are
    "counted" and start a duplicate window.
    """

    kind: HitKind
    occurred_at: datetime
    link_index: int | None
    honeypot: bool
    source: EventSource
    duplicate: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.occurred_at, "PriorHit.occurred_at")


@dataclass(frozen=True)
class ClassificationContext:
    """What the caller knows around a hit.

    ``same_client_hits`` holds the same client's other hits on this copy: earlier
    ones from storage and, because clicks are held for the burst window before
    being decided, later ones already seen.
    """

    accepted_at: datetime | None = None
    is_self: bool = False
    same_client_hits: Sequence[PriorHit] = ()

    def __post_init__(self) -> None:
        _require_aware(self.accepted_at, "ClassificationContext.accepted_at")


@dataclass(frozen=True)
class Verdict:
    """The classification of a hit; ``rule`` is a stable name for the deciding rule."""

    source: EventSource
    rule: str
    duplicate: bool = False


# --- user-agent lists ------------------------------------------------------------------

# --- single-hit rules ------------------------------------------------------------------


def is_head(hit: Hit) -> bool:
    """Whether the hit is a HEAD request."""
    return hit.method.strip().upper() == "HEAD"


def is_empty_user_agent(ua: str) -> bool:
    """Whether the UA is missing or blank."""
    return not ua.strip()


def is_bare_user_agent(ua: str) -> bool:
    """Whether the UA is exactly ``Mozilla/5.0`` (trimmed), which no person's client sends."""
    return ua.strip() == "Mozilla/5.0"


def in_apple_network(client_ip: str, settings: ClassifierSettings) -> bool:
    """Whether ``client_ip`` lies in one of ``settings.apple_networks`` (False if unparsable)."""
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return False
    # An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.apple_networks)


def is_apple_mpp(hit: Hit, settings: ClassifierSettings) -> bool:
    """Whether an open is Apple Mail Privacy Protection prefetching the pixel.

    A bare ``Mozilla/5.0`` is MPP from any address (Apple also fetches through
    partners' networks). From Apple's own networks, any UA without a platform
    comment ``(...)`` counts too: every real mail client and browser names its
    platform there. An Apple address alone is not enough, since Apple's staff read
    mail from it with real clients (an iPhone Mail UA from 17.x.x.x stays HUMAN).
    """
    if hit.kind is not HitKind.OPEN:
        return False
    if is_bare_user_agent(hit.user_agent):
        return True
    return "(" not in hit.user_agent and in_apple_network(hit.client_ip, settings)


# --- rules that look at the same client's other hits -----------------------------------


def _seconds_between(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds())


def within_scanner_window(
    hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings
) -> bool:
    """Whether the hit came within ``scanner_window_seconds`` of the SMTP acceptance.

    A hit apparently *before* the acceptance (clock skew between servers) counts as
    within. False when the acceptance time is unknown.
    """
    if ctx.accepted_at is None:
        return False
    elapsed = (hit.occurred_at - ctx.accepted_at).total_seconds()
    return elapsed <= settings.scanner_window_seconds


def in_honeypot_burst(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> bool:
    """Whether the same client clicked the honeypot within the burst window, before or after."""
    if not ctx.same_client_hits:  # most hits: a client's first
        return False
    return any(
        prior.honeypot
        and _seconds_between(prior.occurred_at, hit.occurred_at) <= settings.burst_window_seconds
        for prior in ctx.same_client_hits
    )


def is_link_burst(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> bool:
    """Whether the same client clicked a *different* link within the burst window.

    Before or after this click; the same link twice is no burst (people do
    double-click).
    """
    if hit.kind is not HitKind.CLICK or hit.link_index is None:
        return False
    return any(
        prior.kind is HitKind.CLICK
        and prior.link_index is not None
        and prior.link_index != hit.link_index
        and _seconds_between(prior.occurred_at, hit.occurred_at) <= settings.burst_window_seconds
        for prior in ctx.same_client_hits
    )


def _repeats_counted(
    hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings, *, same_link: bool
) -> bool:
    for prior in ctx.same_client_hits:
        if prior.kind is not hit.kind or prior.source is not EventSource.HUMAN or prior.duplicate:
            continue
        if same_link and prior.link_index != hit.link_index:
            continue
        elapsed = (hit.occurred_at - prior.occurred_at).total_seconds()
        # Strictly earlier: of two hits with the same timestamp neither hides the other,
        # so a held click never makes an earlier one disappear.
        if 0 < elapsed <= settings.duplicate_window_seconds:
            return True
        # An open recorded after a *later* counted open of its client (two consumers took
        # them at once, the later one committed first) is the repeat: one open counts.
        if not same_link and 0 < -elapsed <= settings.duplicate_window_seconds:
            return True
    return False


def is_duplicate_open(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> bool:
    """Whether an open repeats the same client's counted HUMAN open within the window."""
    return hit.kind is HitKind.OPEN and _repeats_counted(hit, ctx, settings, same_link=False)


def is_duplicate_click(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> bool:
    """Whether a click repeats the same client's counted HUMAN click on the same link."""
    return hit.kind is HitKind.CLICK and _repeats_counted(hit, ctx, settings, same_link=True)


def is_duplicate(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> bool:
    """:func:`is_duplicate_open` or :func:`is_duplicate_click`, by the hit's kind."""
    return is_duplicate_open(hit, ctx, settings) or is_duplicate_click(hit, ctx, settings)


# --- the classifier ----------------------------------------------------------------------


def _machine_rule(hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings) -> str | None:
    # Rules 2-8 of the module docstring; the caller turns a name into MACHINE or BOT.
    is_click = hit.kind is HitKind.CLICK
    if is_click and hit.honeypot:
        return "honeypot"
    if is_head(hit):
        return "head-request"
    if is_empty_user_agent(hit.user_agent):
        return "empty-user-agent"
    if is_apple_mpp(hit, settings):
        return "apple-mpp"
    if is_click and is_bare_user_agent(hit.user_agent):
        return "bare-user-agent"
    ua_rule = machine_user_agent_rule(hit.user_agent)
    if ua_rule is not None:
        return ua_rule
    if in_honeypot_burst(hit, ctx, settings):
        return "honeypot-burst"
    if is_click and within_scanner_window(hit, ctx, settings):
        return "scanner-window"
    if is_link_burst(hit, ctx, settings):
        return "burst"
    return None


def classify(
    hit: Hit, ctx: ClassificationContext, settings: ClassifierSettings | None = None
) -> Verdict:
    """Classify a hit; see the module docstring for the rules and their order."""
    settings = settings or ClassifierSettings()
    if ctx.is_self:
        return Verdict(EventSource.SELF, "self")
    rule = _machine_rule(hit, ctx, settings)
    if rule is not None:
        source = EventSource.BOT if hit.kind is HitKind.CLICK else EventSource.MACHINE
        return Verdict(source, rule)
    return Verdict(EventSource.HUMAN, "human", duplicate=is_duplicate(hit, ctx, settings))
