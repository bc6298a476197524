"""Every consent mutation validates addresses as sendEmail does (finding 5 of issue 11).

``requestTrackingConsent`` and ``recordConsent`` used to accept what ``sendEmail``
refuses: a list of addresses, an SMTP parameter, markup. Each must now be refused with
the validator's code, and nothing is mailed, recorded or erased.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from consent.models import ConsentRecord, ConsentSuppression

HOSTILE = [
    ("victim@example.com,attacker@evil.example", "INVALID_ADDRESS"),
    ("victim@example.com attacker@evil.example", "INVALID_ADDRESS"),
    ("x@y>NOTIFY=SUCCESS", "INVALID_ADDRESS"),
    ("<script>alert(1)</script>@example.ch", "INVALID_ADDRESS"),
    ('"><svg/onload=alert(1)>@x.ch', "INVALID_ADDRESS"),
    ("Anna <anna@firma.ch>", "INVALID_ADDRESS"),
    ("anna@firma.ch\r\nBcc: evil@evil.example", "HEADER_INJECTION"),
    ("anna@firma.ch\x0bBcc: evil@evil.example", "HEADER_INJECTION"),
    ("anna@firma.ch\u2028", "HEADER_INJECTION"),
    ("anna@", "INVALID_ADDRESS"),
    ("a" * 300 + "@firma.ch", "INVALID_ADDRESS"),
]

MUTATIONS = {
    "requestTrackingConsent": 'requestTrackingConsent(email: $email) { email }',
    "recordConsent": 'recordConsent(email: $email, status: DENIED, source: "phone") { email }',
    "eraseRecipientData": "eraseRecipientData(email: $email) { email }",
}


@pytest.mark.parametrize(("address", "code"), HOSTILE)
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
async def test_a_hostile_address_is_refused_with_the_senders_code(
    gql: Any, make_user: Any, smtp_server: Any, mutation: str, address: str, code: str
) -> None:
    admin = await make_user(admin=True)
    before = (await ConsentRecord.all().count(), await ConsentSuppression.all().count())
    body = await gql(
        f"mutation($email: String!) {{ {MUTATIONS[mutation]} }}", {"email": address}, user=admin
    )
    assert body["data"] is None
    (error,) = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, "email"), error
    assert error["message"] != "Unexpected error."
    await asyncio.sleep(0.1)  # a request mail would be on its way by now
    assert [e for e in smtp_server.envelopes if e.mail_from == admin.email] == []
    assert (await ConsentRecord.all().count(), await ConsentSuppression.all().count()) == before


@pytest.mark.parametrize(("address", "code"), HOSTILE[:5])
async def test_recipient_consent_refuses_the_same_addresses(
    gql: Any, make_user: Any, address: str, code: str
) -> None:
    user = await make_user()
    body = await gql(
        "query($email: String!) { recipientConsent(email: $email) { email } }",
        {"email": address}, user=user,
    )
    assert body["errors"][0]["extensions"]["code"] == code
