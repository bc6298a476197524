"""Tracking policies per jurisdiction, and the per-recipient tracking decision.

Pure functions: the caller passes the jurisdiction, the configuration and the
recipient's recorded consent status.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, get_args

from consent.jurisdiction import (
    Jurisdiction,
    jurisdiction_of_country,
    normalize_address,
    normalize_country,
)

__all__ = [
    "DEFAULT_POLICIES",
    "POLICIES",
    "REGIONS",
    "ConsentStatus",
    "Policy",
    "PolicyConfig",
    "may_track",
    "parse_policy_map",
    "policy_for",
    "reason",
    "requires_consent",
]

Policy = Literal["opt-in", "opt-out", "none"]
#: The valid policy names.
POLICIES: tuple[Policy, ...] = get_args(Policy)
#: Region names a policy map may use besides country codes.
REGIONS: frozenset[str] = frozenset({"EU", "EEA", "UK", "CH"})

#: Defaults (DESIGN.md 3): EU, EEA and UK need prior consent, Switzerland lets a
#: recipient refuse; every other country (absent from the map) is "none".
DEFAULT_POLICIES: Mapping[str, Policy] = MappingProxyType(
    {"EU": "opt-in", "EEA": "opt-in", "UK": "opt-in", "CH": "opt-out"}
)


class ConsentStatus(StrEnum):
    """A recipient's recorded consent to tracking; UNKNOWN when nothing is recorded."""

    UNKNOWN = "UNKNOWN"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    WITHDRAWN = "WITHDRAWN"


def _check_policy(value: object, where: str) -> Policy:
    for policy in POLICIES:
        if value == policy:
            return policy
    raise ValueError(f"{where}: policy must be one of opt-in, opt-out, none (got {value!r})")


def _check_key(key: object) -> str:
    text = str(key).strip().upper()
    if text in REGIONS:
        return text
    country = normalize_country(text)
    if country is None:
        raise ValueError(
            f"{key!r} is neither a region (EU, EEA, UK, CH) nor an ISO 3166-1 country code"
        )
    return country


def _normalize_map(entries: Mapping[str, object]) -> dict[str, Policy]:
    result: dict[str, Policy] = {}
    for key, value in entries.items():
        name = _check_key(key)
        result[name] = _check_policy(value, name)
    return result


@dataclass(frozen=True)
class PolicyConfig:
    """Which policy applies where.

    ``by_region`` maps region names (EU, EEA, UK, CH) or country codes to a policy;
    a country entry wins over its region's, and the EU falls back to the EEA entry.
    ``company_country`` is the sending company's own country: recipients of unknown
    jurisdiction get its policy (an EU company is bound for every recipient).
    ``unknown_policy``, when set, overrides that for unknown recipients.
    Keys and the country are validated and normalised to upper case on creation
    (``ValueError`` on bad input).
    """

    by_region: Mapping[str, Policy] = field(default_factory=lambda: DEFAULT_POLICIES)
    company_country: str | None = None
    unknown_policy: Policy | None = None

    def __post_init__(self) -> None:
        # Read-only copy: the config is shared by concurrent sends.
        by_region = MappingProxyType(_normalize_map(self.by_region))
        object.__setattr__(self, "by_region", by_region)
        if self.company_country is not None:
            country = normalize_country(self.company_country)
            if country is None:
                raise ValueError(
                    f"company_country: {self.company_country!r} is not an ISO 3166-1 code"
                )
            object.__setattr__(self, "company_country", country)
        if self.unknown_policy is not None:
            _check_policy(self.unknown_policy, "unknown_policy")


def _lookup_keys(j: Jurisdiction) -> Iterator[str]:
    # Most specific first: a country's own entry, then its region, then the EEA
    # for EU members (the EU is part of the EEA).
    if j.country is not None:
        yield j.country
    if j.region is not None and j.region != j.country:
        yield j.region
    if j.region == "EU":
        yield "EEA"


def _known_policy(j: Jurisdiction, config: PolicyConfig) -> Policy:
    for key in _lookup_keys(j):
        if key in config.by_region:
            return config.by_region[key]
    return "none"


def policy_for(j: Jurisdiction, config: PolicyConfig) -> Policy:
    """Return the policy for a recipient of jurisdiction ``j``.

    Known: the country's entry, else its region's (EU falls back to EEA), else
    "none". Unknown: ``config.unknown_policy`` if set, else the policy of the
    company's own country, else "none".
    """
    if j.known:
        return _known_policy(j, config)
    if config.unknown_policy is not None:
        return config.unknown_policy
    if config.company_country is not None:
        return _known_policy(jurisdiction_of_country(config.company_country), config)
    return "none"


def parse_policy_map(text: str) -> dict[str, Policy]:
    """Parse a settings string like ``"EU=opt-in,UK=opt-in,CH=opt-out,US=none"``.

    Keys are regions (EU, EEA, UK, CH) or ISO country codes, case-insensitive;
    entries are separated by commas (blank entries ignored). Raises ``ValueError``
    naming the offending entry.
    """
    result: dict[str, Policy] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, eq, value = entry.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"policy entry {entry!r} must look like REGION=policy")
        name = _check_key(key)
        if name in result:
            raise ValueError(f"policy entry {entry!r}: {name} is given twice")
        result[name] = _check_policy(value.strip().lower(), name)
    return result


def requires_consent(policy: Policy) -> bool:
    """Whether tracking needs a recorded GRANTED consent (only for opt-in)."""
    return policy == "opt-in"


def may_track(policy: Policy, status: ConsentStatus) -> bool:
    """Whether a recipient under ``policy`` with consent ``status`` may be tracked.

    opt-in: only GRANTED. opt-out and none: unless DENIED or WITHDRAWN. An explicit
    refusal is honoured everywhere, even where no law asks for it: a person who
    said no must never find out that we tracked them anyway.
    """
    if policy == "opt-in":
        return status is ConsentStatus.GRANTED
    return status not in (ConsentStatus.DENIED, ConsentStatus.WITHDRAWN)


def _where(j: Jurisdiction) -> str:
    if j.region is None:
        return "the policy for unknown jurisdictions"
    return j.region


def reason(email: str, j: Jurisdiction, policy: Policy, status: ConsentStatus) -> str:
    """Return one human-readable line saying whether and why ``email`` is tracked.

    E.g. ``"anna@firma.de: tracking off, EU requires consent (opt-in) and none is
    recorded"`` or ``"anna@firma.de: tracking off, consent WITHDRAWN"``.
    """
    who = normalize_address(email)
    where = _where(j)
    if status in (ConsentStatus.DENIED, ConsentStatus.WITHDRAWN):
        return f"{who}: tracking off, consent {status.value}"
    if policy == "opt-in":
        if status is ConsentStatus.GRANTED:
            return f"{who}: tracking on, consent GRANTED"
        return f"{who}: tracking off, {where} requires consent (opt-in) and none is recorded"
    if policy == "opt-out":
        return f"{who}: tracking on, {where} allows tracking until the recipient refuses (opt-out)"
    return f"{who}: tracking on, no consent required"
