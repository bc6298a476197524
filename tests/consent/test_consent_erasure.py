"""eraseRecipientData and the recipient export: what goes, what survives, who may."""

from __future__ import annotations

from typing import Any

from consent.erasure import erase_recipient_data
from consent.gate import hits_may_be_recorded
from consent.models import ConsentRecord, ConsentSuppression
from consent.service import recipient_consent, record_consent
from consent.signing import keys_for
from plugin.notifications.models import Notification
from plugin.sending.models import SentEmail
from plugin.tracking.models import TrackingEvent
from tests.consent.factories import make_email, store_event, store_notification, unique_address

ERASE = """mutation($email: String!) {
  eraseRecipientData(email: $email) { email eventsDeleted consentRecordsDeleted } }"""
EXPORT = "query($email: String!) { recipientData(email: $email) }"


async def _history(user_id: int, anna: str, ben: str, settings: Any) -> tuple[SentEmail, SentEmail]:
    await record_consent(anna, "GRANTED", "web form", None, settings)
    await record_consent(anna, "WITHDRAWN", "phone", None, settings)
    await record_consent(ben, "GRANTED", "web form", None, settings)
    per_recipient = await make_email(user_id, (anna, ben), per_recipient=True)
    shared = await make_email(user_id, (anna, ben))
    for _ in range(3):
        await store_event(per_recipient, anna)
    await store_event(per_recipient, ben)
    await store_event(shared)  # names nobody
    await store_notification(per_recipient, anna)
    await store_notification(per_recipient, ben)
    return per_recipient, shared


async def test_erasure_deletes_what_names_the_recipient_and_keeps_the_withdrawal(
    gql: Any, make_user: Any, settings: Any
) -> None:
    admin, sender = await make_user(admin=True), await make_user()
    anna, ben = unique_address("firma.de"), unique_address("firma.de")
    per_recipient, shared = await _history(sender.id, anna, ben, settings)

    body = await gql(ERASE, {"email": anna.upper()}, user=admin)
    assert body["data"]["eraseRecipientData"] == {
        "email": anna,
        "eventsDeleted": 3,
        "consentRecordsDeleted": 2,
    }

    assert not await TrackingEvent.filter(recipient=anna).exists()
    assert not await Notification.filter(recipient=anna).exists()
    assert not await ConsentRecord.filter(recipient=anna).exists()
    # Others' data, shared-message events and the correspondence itself stay.
    assert await TrackingEvent.filter(recipient=ben).count() == 1
    assert await TrackingEvent.filter(email_id=shared.id).count() == 1
    assert await Notification.filter(recipient=ben).count() == 1
    assert (await SentEmail.get(id=per_recipient.id)).open_count == 3
    # Only a keyed hash is left, and it keeps the withdrawal working.
    entry = await ConsentSuppression.get(address_hash=keys_for(settings).address_hash(anna))
    assert entry.status.value == "WITHDRAWN" and anna not in entry.address_hash
    state = await recipient_consent(anna, settings)
    assert (state.status.value, state.source) == ("WITHDRAWN", "erasure")
    assert not await hits_may_be_recorded([anna], settings)
    # Erasing again finds nothing more, and still leaves one entry.
    again = await erase_recipient_data(anna, None, settings)
    assert (again.events_deleted, again.consent_records_deleted) == (0, 0)
    # Only the recipient's own later grant (or one with proof) lifts the suppression.
    await record_consent(anna, "GRANTED", "consent page", None, settings, by_recipient=True)
    assert (await recipient_consent(anna, settings)).status.value == "GRANTED"
    assert await hits_may_be_recorded([anna], settings)


async def test_only_admins_may_erase_or_export(gql: Any, make_user: Any, settings: Any) -> None:
    user = await make_user()
    anna = unique_address("firma.de")
    await record_consent(anna, "GRANTED", "web form", None, settings)
    for document in (ERASE, EXPORT):
        body = await gql(document, {"email": anna}, user=user)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await ConsentRecord.filter(recipient=anna).count() == 1


async def test_export_lists_tracking_data_and_consent_history(
    gql: Any, make_user: Any, settings: Any
) -> None:
    admin, sender = await make_user(admin=True), await make_user()
    anna, ben = unique_address("firma.de"), unique_address("firma.de")
    await _history(sender.id, anna, ben, settings)
    body = await gql(EXPORT, {"email": anna}, user=admin)
    data = body["data"]["recipientData"]
    assert data["recipient"] == anna
    assert data["consent"]["status"] == "WITHDRAWN"
    assert [r["status"] for r in data["consentHistory"]] == ["GRANTED", "WITHDRAWN"]
    assert {r["textVersion"] for r in data["consentHistory"]} == {settings.consent_text_version}
    assert len(data["trackingEvents"]) == 3
    assert {e["networkPrefix"] for e in data["trackingEvents"]} == {"192.0.2.0/24"}
    assert len(data["notifications"]) == 1
