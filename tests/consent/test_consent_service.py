"""recipientConsent and recordConsent: every policy path, the host hook, proof of records."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from consent.models import ConsentRecord
from consent.service import recipient_consent, record_consent
from plugin.hooks import registry
from tests.consent.factories import unique_address

STATE = (
    "recipientConsent(email: $email) { email jurisdiction requiresConsent status updatedAt source }"
)
QUERY = f"query($email: String!) {{ {STATE} }}"
RECORD = """mutation($email: String!, $status: ConsentStatus!, $source: String!) {
  recordConsent(email: $email, status: $status, source: $source) {
    email jurisdiction requiresConsent status updatedAt source } }"""


async def _state(gql: Any, user: Any, email: str) -> dict[str, Any]:
    body = await gql(QUERY, {"email": email}, user=user)
    assert "errors" not in body, body
    return dict(body["data"]["recipientConsent"])


@pytest.mark.parametrize(
    ("domain", "jurisdiction", "requires"),
    [
        ("firma.de", "EU", True),  # EU member: opt-in
        ("example.eu", "EU", True),
        ("firma.no", "EEA", True),
        ("shop.co.uk", "UK", True),  # UK: opt-in
        ("bank.ch", "CH", False),  # Switzerland: opt-out
        ("corp.us", "US", False),  # elsewhere: none
        ("example.com", None, False),  # unknown, no company country: none
    ],
)
async def test_policy_paths_through_graphql(
    gql: Any, make_user: Any, domain: str, jurisdiction: str | None, requires: bool
) -> None:
    user = await make_user()
    state = await _state(gql, user, unique_address(domain))
    assert state["jurisdiction"] == jurisdiction
    assert state["requiresConsent"] is requires
    assert state["status"] == "UNKNOWN"
    assert state["updatedAt"] is None and state["source"] is None


@pytest.mark.parametrize(
    ("company", "unknown_policy", "requires", "policy"),
    [
        ("DE", None, True, "opt-in"),  # an EU company is bound for every recipient
        ("GB", None, True, "opt-in"),
        ("CH", None, False, "opt-out"),
        ("US", None, False, "none"),
        (None, None, False, "none"),
        ("US", "opt-in", True, "opt-in"),  # set directly, it wins over the company's
    ],
)
async def test_unknown_jurisdiction_follows_the_company(
    server: str,
    settings: Any,
    company: str | None,
    unknown_policy: str | None,
    requires: bool,
    policy: str,
) -> None:
    variant = dataclasses.replace(settings, company_country=company, unknown_policy=unknown_policy)
    state = await recipient_consent(unique_address("example.com"), variant)
    assert state.jurisdiction is None
    assert (state.requires_consent, state.policy) == (requires, policy)


async def test_the_host_hook_overrides_the_domain(gql: Any, make_user: Any) -> None:
    user = await make_user()
    german_domain_swiss_contact = unique_address("firma.de")

    def country(email: str) -> str | None:
        return "ch" if email == german_domain_swiss_contact else None

    with registry.registered("resolve_recipient_country", country):
        swiss = await _state(gql, user, german_domain_swiss_contact)
        other = await _state(gql, user, unique_address("firma.de"))
    assert (swiss["jurisdiction"], swiss["requiresConsent"]) == ("CH", False)
    assert (other["jurisdiction"], other["requiresConsent"]) == ("EU", True)


async def test_an_invalid_host_country_falls_back_to_the_domain(server: str, settings: Any) -> None:
    with registry.registered("resolve_recipient_country", lambda email: "XX"):
        state = await recipient_consent(unique_address("firma.fr"), settings)
    assert state.jurisdiction == "EU"


async def test_record_consent_appends_with_proof_and_belongs_to_the_crm(
    gql: Any, make_user: Any, settings: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    email = unique_address("Firma.DE")
    body = await gql(
        RECORD, {"email": email.upper(), "status": "GRANTED", "source": "phone call"}, user=alice
    )
    granted = body["data"]["recordConsent"]
    assert granted["email"] == email.lower()
    assert (granted["status"], granted["source"], granted["requiresConsent"]) == (
        "GRANTED",
        "phone call",
        True,
    )
    assert granted["updatedAt"] is not None
    # Bob sees the consent Alice recorded, and may change it.
    assert (await _state(gql, bob, email))["status"] == "GRANTED"
    await gql(RECORD, {"email": email, "status": "WITHDRAWN", "source": "email reply"}, user=bob)
    assert (await _state(gql, alice, email))["status"] == "WITHDRAWN"

    records = await ConsentRecord.filter(recipient=email.lower()).order_by("id")
    assert [r.status.value for r in records] == ["GRANTED", "WITHDRAWN"]
    assert [r.recorded_by_id for r in records] == [alice.id, bob.id]  # type: ignore[attr-defined]
    assert {r.text_version for r in records} == {settings.consent_text_version}


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ({"email": "x@firma.de", "status": "UNKNOWN", "source": "api"}, "status", "INVALID_INPUT"),
        ({"email": "x@firma.de", "status": "GRANTED", "source": "  "}, "source", "INVALID_INPUT"),
        ({"email": "not an address", "status": "GRANTED", "source": "api"}, "email",
         "INVALID_ADDRESS"),
    ],
)
async def test_record_consent_refuses_bad_input(
    gql: Any, make_user: Any, variables: dict[str, str], field: str, code: str
) -> None:
    body = await gql(RECORD, variables, user=await make_user())
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": code, "field": field}


async def test_consent_needs_an_authenticated_user(gql: Any) -> None:
    body = await gql(QUERY, {"email": "x@firma.de"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await gql(RECORD, {"email": "x@firma.de", "status": "GRANTED", "source": "api"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_service_records_without_a_user(server: str, settings: Any) -> None:
    email = unique_address("firma.it")
    state = await record_consent(email, "DENIED", "consent page", None, settings)
    assert (state.status.value, state.source) == ("DENIED", "consent page")
    record = await ConsentRecord.get(recipient=email)
    assert record.recorded_by_id is None  # type: ignore[attr-defined]
