"""The recipient's word outranks the CRM's (finding 2 of issue 11).

After the recipient's own DENIED or WITHDRAWN on the consent page, or an erasure, a CRM
user's ``recordConsent(GRANTED)`` used to make the recipient trackable again. Now it is
refused with RECIPIENT_REFUSED, unless an administrator records it with a note of the
proof; every record keeps who spoke and why.
"""

from __future__ import annotations

from typing import Any

import httpx

from consent.export import export_recipient_data
from consent.models import ConsentRecord
from consent.service import recipient_consent, record_consent
from tests.consent.factories import unique_address
from tests.consent.test_consent_pages import _form, _path

RECORD = """mutation($email: String!, $status: ConsentStatus!, $source: String!, $note: String) {
  recordConsent(email: $email, status: $status, source: $source, note: $note) {
    status source } }"""
ERASE = "mutation($email: String!) { eraseRecipientData(email: $email) { email } }"


async def _decline_on_the_page(http: httpx.AsyncClient, settings: Any, email: str) -> None:
    path = _path(settings, email)
    answer = await http.post(path, data={"form": await _form(http, path), "choice": "decline"})
    assert answer.status_code == 200


async def _grant(gql: Any, user: Any, email: str, note: str | None = None) -> dict[str, Any]:
    variables = {"email": email, "status": "GRANTED", "source": "phone call", "note": note}
    body: dict[str, Any] = await gql(RECORD, variables, user=user)
    return body


async def test_a_users_grant_cannot_undo_the_recipients_own_refusal(
    gql: Any, make_user: Any, http: httpx.AsyncClient, settings: Any
) -> None:
    user = await make_user()
    email = unique_address("firma.de")
    await _grant(gql, user, email)  # the CRM thought it had consent
    await _decline_on_the_page(http, settings, email)  # the recipient withdrew it
    assert (await recipient_consent(email, settings)).status.value == "WITHDRAWN"

    body = await _grant(gql, user, email, note="they said yes on the phone")
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "RECIPIENT_REFUSED", "field": "status"}
    assert "administrator" in body["errors"][0]["message"]
    assert (await recipient_consent(email, settings)).status.value == "WITHDRAWN"
    statuses = [r.status.value for r in await ConsentRecord.filter(recipient=email).order_by("id")]
    assert statuses == ["GRANTED", "WITHDRAWN"]


async def test_an_admin_needs_a_note_of_the_proof(
    gql: Any, make_user: Any, http: httpx.AsyncClient, settings: Any
) -> None:
    admin = await make_user(admin=True)
    email = unique_address("firma.de")
    await _decline_on_the_page(http, settings, email)
    for note in (None, "   "):
        refused = await _grant(gql, admin, email, note)
        assert refused["errors"][0]["extensions"]["code"] == "RECIPIENT_REFUSED"
    proof = "signed consent form of 2026-12-01, scanned into the contact's files"
    granted = await _grant(gql, admin, email, proof)
    assert granted["data"]["recordConsent"] == {"status": "GRANTED", "source": "phone call"}
    records = await ConsentRecord.filter(recipient=email).order_by("id")
    assert [(r.status.value, r.by_recipient, r.recorded_by_id, r.note) for r in records] == [  # type: ignore[attr-defined]
        ("DENIED", True, None, None),
        ("GRANTED", False, admin.id, proof),
    ]
    # The export (a recipient's access request) shows who spoke and why.
    history = (await export_recipient_data(email, None, settings))["consentHistory"]
    assert [(h["status"], h["byRecipient"], h["recordedByUserId"], h["note"]) for h in history] == [
        ("DENIED", True, None, None),
        ("GRANTED", False, admin.id, proof),
    ]


async def test_erasure_is_the_recipients_word_too(
    gql: Any, make_user: Any, settings: Any
) -> None:
    user, admin = await make_user(), await make_user(admin=True)
    email = unique_address("firma.de")
    await _grant(gql, user, email)
    assert "errors" not in await gql(ERASE, {"email": email}, user=admin)
    refused = await _grant(gql, user, email)
    assert refused["errors"][0]["extensions"]["code"] == "RECIPIENT_REFUSED"
    # A user's refusal meanwhile does not wash the erasure away.
    await gql(RECORD, {"email": email, "status": "DENIED", "source": "x"}, user=user)
    assert (await _grant(gql, user, email))["errors"][0]["extensions"]["code"] == (
        "RECIPIENT_REFUSED"
    )
    assert (await recipient_consent(email, settings)).status.value == "DENIED"


async def test_a_users_own_refusal_can_be_corrected_by_a_user(
    gql: Any, make_user: Any, settings: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    email = unique_address("firma.de")
    await gql(RECORD, {"email": email, "status": "DENIED", "source": "mistake"}, user=alice)
    body = await _grant(gql, bob, email, "the contact asked us by letter")
    assert body["data"]["recordConsent"]["status"] == "GRANTED"
    record = await ConsentRecord.filter(recipient=email).order_by("-id").first()
    assert record is not None and record.note == "the contact asked us by letter"


async def test_the_recipients_own_grant_lifts_its_own_refusal(
    gql: Any, make_user: Any, http: httpx.AsyncClient, settings: Any
) -> None:
    user = await make_user()
    email = unique_address("firma.de")
    await _decline_on_the_page(http, settings, email)
    path = _path(settings, email)
    await http.post(path, data={"form": await _form(http, path), "choice": "grant"})
    assert (await recipient_consent(email, settings)).status.value == "GRANTED"
    # ...and then the CRM is free again (e.g. to record a later grant from an import).
    await record_consent(email, "WITHDRAWN", "import", None, settings)
    assert (await _grant(gql, user, email))["data"]["recordConsent"]["status"] == "GRANTED"


async def test_a_note_is_bounded_and_encodable(gql: Any, make_user: Any) -> None:
    user = await make_user()
    body = await _grant(gql, user, unique_address("firma.de"), "n" * 1001)
    assert body["errors"][0]["extensions"] == {"code": "TOO_LARGE", "field": "note"}
