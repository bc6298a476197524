"""Policies per jurisdiction and the per-recipient tracking decision."""

from __future__ import annotations

import pytest

from consent.jurisdiction import UNKNOWN, Jurisdiction, resolve_jurisdiction
from consent.policy import (
    DEFAULT_POLICIES,
    ConsentStatus,
    Policy,
    PolicyConfig,
    may_track,
    parse_policy_map,
    policy_for,
    reason,
    requires_consent,
)

DEFAULTS = PolicyConfig()


def _policy(email: str, host: str | None = None, config: PolicyConfig = DEFAULTS) -> Policy:
    return policy_for(resolve_jurisdiction(email, host_country=host), config)


# --- policy_for ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("anna@firma.de", "opt-in"),
        ("marie@societe.fr", "opt-in"),
        ("luca@azienda.it", "opt-in"),
        ("info@agency.eu", "opt-in"),
        ("ola@firma.no", "opt-in"),
        ("tom@firm.co.uk", "opt-in"),
        ("tom@firm.uk", "opt-in"),
        ("hans@firma.ch", "opt-out"),
        ("kate@example.com.au", "none"),
        ("bob@example.com", "none"),
    ],
)
def test_default_policies(email: str, expected: Policy) -> None:
    assert _policy(email) == expected


def test_unknown_gets_company_policy() -> None:
    assert _policy("bob@example.com", config=PolicyConfig(company_country="DE")) == "opt-in"
    assert _policy("bob@example.com", config=PolicyConfig(company_country="ch")) == "opt-out"
    assert _policy("bob@example.com", config=PolicyConfig(company_country="US")) == "none"
    assert _policy("bob@example.com", config=PolicyConfig(company_country=None)) == "none"


def test_company_country_does_not_touch_known_recipients() -> None:
    config = PolicyConfig(company_country="DE")
    assert _policy("kate@example.com.au", config=config) == "none"


def test_explicit_unknown_policy_overrides_company() -> None:
    config = PolicyConfig(company_country="DE", unknown_policy="opt-out")
    assert _policy("bob@example.com", config=config) == "opt-out"
    assert _policy("anna@firma.de", config=config) == "opt-in"


def test_host_country_overrides_domain() -> None:
    assert _policy("anna@firma.de", host="US") == "none"
    assert _policy("bob@example.com", host="FR") == "opt-in"
    assert _policy("bob@example.com", host="not-a-country") == "none"


def test_country_entry_wins_over_region() -> None:
    config = PolicyConfig(by_region={**DEFAULT_POLICIES, "IE": "opt-out", "us": "opt-in"})
    assert _policy("sean@firma.ie", config=config) == "opt-out"
    assert _policy("anna@firma.de", config=config) == "opt-in"
    assert _policy("joe@firm.us", config=config) == "opt-in"


def test_eu_falls_back_to_eea_entry() -> None:
    config = PolicyConfig(by_region={"EEA": "opt-out"})
    assert _policy("anna@firma.de", config=config) == "opt-out"
    assert _policy("info@agency.eu", config=config) == "opt-out"
    assert _policy("tom@firm.co.uk", config=config) == "none"


def test_config_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="XX"):
        PolicyConfig(by_region={"XX": "opt-in"})
    with pytest.raises(ValueError, match="opt-maybe"):
        PolicyConfig(by_region={"EU": "opt-maybe"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="company_country"):
        PolicyConfig(company_country="Germany")
    with pytest.raises(ValueError, match="unknown_policy"):
        PolicyConfig(unknown_policy="sometimes")  # type: ignore[arg-type]


def test_config_is_read_only() -> None:
    config = PolicyConfig(by_region={"eu": "opt-in"})
    assert dict(config.by_region) == {"EU": "opt-in"}
    with pytest.raises(TypeError):
        config.by_region["US"] = "none"  # type: ignore[index]


# --- parse_policy_map -----------------------------------------------------------------


def test_parse_policy_map() -> None:
    assert parse_policy_map("EU=opt-in,EEA=opt-in,UK=opt-in,CH=opt-out,US=none") == {
        "EU": "opt-in",
        "EEA": "opt-in",
        "UK": "opt-in",
        "CH": "opt-out",
        "US": "none",
    }


def test_parse_policy_map_region_and_country_side_by_side() -> None:
    # UK is the region, GB its main country: both may be set, the country wins.
    config = PolicyConfig(by_region=parse_policy_map("UK=opt-in,GB=opt-out"))
    assert _policy("tom@firm.co.uk", config=config) == "opt-out"
    assert _policy("tom@firm.je", config=config) == "opt-in"


def test_parse_policy_map_is_lenient_about_spacing_and_case() -> None:
    assert parse_policy_map(" eu = Opt-In , ,de=none, ") == {"EU": "opt-in", "DE": "none"}
    assert parse_policy_map("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("EU", "must look like REGION=policy"),
        ("=opt-in", "must look like REGION=policy"),
        ("EU=sometimes", "'EU'|EU: policy must be one of"),
        ("EU=", "policy must be one of"),
        ("Mars=opt-in", "neither a region"),
        ("EU=opt-in,eu=none", "EU is given twice"),
        ("UK=opt-in,gb=none,GB=none", "GB is given twice"),
    ],
)
def test_parse_policy_map_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy_map(text)


# --- may_track / requires_consent -----------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "status", "allowed"),
    [
        ("opt-in", ConsentStatus.UNKNOWN, False),
        ("opt-in", ConsentStatus.GRANTED, True),
        ("opt-in", ConsentStatus.DENIED, False),
        ("opt-in", ConsentStatus.WITHDRAWN, False),
        ("opt-out", ConsentStatus.UNKNOWN, True),
        ("opt-out", ConsentStatus.GRANTED, True),
        ("opt-out", ConsentStatus.DENIED, False),
        ("opt-out", ConsentStatus.WITHDRAWN, False),
        # An explicit refusal is honoured even where no law asks for it.
        ("none", ConsentStatus.UNKNOWN, True),
        ("none", ConsentStatus.GRANTED, True),
        ("none", ConsentStatus.DENIED, False),
        ("none", ConsentStatus.WITHDRAWN, False),
    ],
)
def test_may_track(policy: Policy, status: ConsentStatus, allowed: bool) -> None:
    assert may_track(policy, status) is allowed


def test_requires_consent() -> None:
    assert requires_consent("opt-in")
    assert not requires_consent("opt-out")
    assert not requires_consent("none")


def test_consent_status_is_a_string() -> None:
    assert ConsentStatus("WITHDRAWN") is ConsentStatus.WITHDRAWN
    assert ConsentStatus.GRANTED == "GRANTED"


# --- reason ---------------------------------------------------------------------------

DE = Jurisdiction("DE", "EU", "domain")


@pytest.mark.parametrize(
    ("j", "policy", "status", "line"),
    [
        (
            DE,
            "opt-in",
            ConsentStatus.UNKNOWN,
            "anna@firma.de: tracking off, EU requires consent (opt-in) and none is recorded",
        ),
        (DE, "opt-in", ConsentStatus.WITHDRAWN, "anna@firma.de: tracking off, consent WITHDRAWN"),
        (DE, "opt-in", ConsentStatus.GRANTED, "anna@firma.de: tracking on, consent GRANTED"),
        (
            Jurisdiction("CH", "CH", "domain"),
            "opt-out",
            ConsentStatus.DENIED,
            "anna@firma.de: tracking off, consent DENIED",
        ),
        (
            Jurisdiction("CH", "CH", "domain"),
            "opt-out",
            ConsentStatus.UNKNOWN,
            "anna@firma.de: tracking on, CH allows tracking until the recipient refuses (opt-out)",
        ),
        (
            UNKNOWN,
            "opt-in",
            ConsentStatus.UNKNOWN,
            "anna@firma.de: tracking off, the policy for unknown jurisdictions requires consent "
            "(opt-in) and none is recorded",
        ),
        (UNKNOWN, "none", ConsentStatus.UNKNOWN, "anna@firma.de: tracking on, no consent required"),
        (
            UNKNOWN,
            "none",
            ConsentStatus.WITHDRAWN,
            "anna@firma.de: tracking off, consent WITHDRAWN",
        ),
    ],
)
def test_reason(j: Jurisdiction, policy: Policy, status: ConsentStatus, line: str) -> None:
    assert reason(" Anna@Firma.DE", j, policy, status) == line


def test_reason_agrees_with_may_track() -> None:
    for policy in ("opt-in", "opt-out", "none"):
        for status in ConsentStatus:
            line = reason("a@b.de", DE, policy, status)
            assert ("tracking on" in line) is may_track(policy, status)
