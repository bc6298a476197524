"""The authorization matrix, generated from the served schema.

Every field of Query, Mutation and Subscription is called without a token, as
another user than the owner of the data it touches, and (admin operations) as a
non-admin. ``CASES`` holds one case per field; the first test enumerates the
fields of the schema the server serves and fails on any field without a case, so
a new field cannot ship without saying, here, who may call it and what another
user sees.

Scopes:
- ``owner``: the data belongs to the caller; another user's data behaves as absent
  (no error that tells it exists, no state change).
- ``admin``: administrators only; anyone else gets FORBIDDEN and changes nothing.
- ``company``: consent is the company's record about a recipient (one record
  per recipient, whichever user sends): any authenticated user, never anonymous.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from graphql_schema.schema import build_schema
from plugin.mailboxes.crypto import encrypt
from plugin.mailboxes.models import Mailbox
from plugin.notifications.models import Notification
from plugin.sending.models import SentEmail
from plugin.tracking.models import TrackingEvent
from tests.conftest import ApiUser, GraphQL, UserFactory, free_port
from tests.consent.factories import unique_address
from tests.live.factories import make_email, store_event, wait_for_subscribers
from tests.live.wsclient import GraphQLWS, Rejected


@dataclass
class World:
    """An owner with data, an intruder (another, non-admin user) and an admin."""

    owner: ApiUser
    intruder: ApiUser
    admin: ApiUser
    email: SentEmail
    notification: Notification
    recipient: str
    base_url: str


Check = Callable[[GraphQL, World, str], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    scope: str  # owner | admin | company
    document: str
    variables: Callable[[World], dict[str, Any]]
    as_intruder: Check
    """Runs the operation as the intruder and asserts nothing of the owner's leaks or changes."""


def _none(_: World) -> dict[str, Any]:
    return {}


def _data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body
    return body["data"]


def _forbidden(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


async def _me(gql: GraphQL, w: World, doc: str) -> None:
    me = _data(await gql(doc, user=w.intruder))["me"]
    assert me["email"] == w.intruder.email and me["email"] != w.owner.email


async def _preferences(gql: GraphQL, w: World, doc: str) -> None:
    # The owner switched open tracking off; the intruder still sees its own default.
    assert _data(await gql(doc, user=w.intruder))["trackingPreferences"] == {
        "openTrackingEnabled": True
    }


async def _sent_emails(gql: GraphQL, w: World, doc: str) -> None:
    page = _data(await gql(doc, user=w.intruder))["sentEmails"]
    assert page["totalCount"] == 0 and page["edges"] == []


async def _sent_email(gql: GraphQL, w: World, doc: str) -> None:
    assert _data(await gql(doc, {"id": str(w.email.id)}, user=w.intruder))["sentEmail"] is None


async def _notifications(gql: GraphQL, w: World, doc: str) -> None:
    page = _data(await gql(doc, user=w.intruder))["notifications"]
    assert page["edges"] == []


async def _unread(gql: GraphQL, w: World, doc: str) -> None:
    assert _data(await gql(doc, user=w.intruder))["unreadNotificationCount"] == 0
    assert _data(await gql(doc, user=w.owner))["unreadNotificationCount"] == 1


async def _recipient_consent(gql: GraphQL, w: World, doc: str) -> None:
    answer = _data(await gql(doc, {"email": w.recipient}, user=w.intruder))
    assert answer["recipientConsent"]["email"] == w.recipient


async def _recipient_data(gql: GraphQL, w: World, doc: str) -> None:
    _forbidden(await gql(doc, {"email": w.recipient}, user=w.intruder))
    exported = _data(await gql(doc, {"email": w.recipient}, user=w.admin))["recipientData"]
    # The export's JSON shape: a consentHistory list whose entries carry their status.
    assert [entry["status"] for entry in exported["consentHistory"]] == ["DENIED"]


async def _update_preferences(gql: GraphQL, w: World, doc: str) -> None:
    _data(await gql(doc, {"i": {"openTrackingEnabled": True, "linkTrackingEnabled": False}},
                    user=w.intruder))
    owners = _data(await gql(
        "{ trackingPreferences { openTrackingEnabled linkTrackingEnabled } }", user=w.owner
    ))["trackingPreferences"]
    assert owners == {"openTrackingEnabled": False, "linkTrackingEnabled": True}


async def _send_email(gql: GraphQL, w: World, doc: str) -> None:
    # The owner's idempotency key does not hand the intruder the owner's email.
    variables = {"i": {"to": ["bob@example.com"], "subject": "Mine", "text": "x",
                       "idempotencyKey": "owner-key"}}
    sent = _data(await gql(doc, variables, user=w.intruder))["sendEmail"]
    assert sent["errors"] == [] and sent["email"]["id"] != str(w.email.id)
    assert sent["email"]["subject"] == "Mine"
    assert await SentEmail.filter(user_id=w.owner.id).count() == 1  # nothing of the owner's


async def _mark_read(gql: GraphQL, w: World, doc: str) -> None:
    changed = _data(await gql(doc, {"ids": [str(w.notification.id)], "all": False},
                              user=w.intruder))["markNotificationsRead"]
    assert changed == 0
    everything = _data(await gql(doc, {"ids": None, "all": True}, user=w.intruder))
    assert everything["markNotificationsRead"] == 0
    assert (await Notification.get(id=w.notification.id)).read_at is None


async def _record_consent(gql: GraphQL, w: World, doc: str) -> None:
    variables = {"email": w.recipient, "status": "DENIED", "source": "phone call"}
    answer = _data(await gql(doc, variables, user=w.intruder))["recordConsent"]
    assert answer["email"] == w.recipient


async def _request_consent(gql: GraphQL, w: World, doc: str) -> None:
    answer = _data(await gql(doc, {"email": w.recipient}, user=w.intruder))
    assert answer["requestTrackingConsent"]["email"] == w.recipient


async def _erase(gql: GraphQL, w: World, doc: str) -> None:
    before = await TrackingEvent.filter(email_id=w.email.id).count()
    _forbidden(await gql(doc, {"email": w.recipient}, user=w.intruder))
    assert await TrackingEvent.filter(email_id=w.email.id).count() == before > 0


async def _subscription_events(gql: GraphQL, w: World, doc: str) -> None:
    await _silent_subscription(w, doc, {"emailId": str(w.email.id)})


async def _subscription_bell(gql: GraphQL, w: World, doc: str) -> None:
    await _silent_subscription(w, doc, {})


async def _silent_subscription(w: World, doc: str, variables: dict[str, Any]) -> None:
    from plugin.runtime import current_runtime
    from plugin.tracking.pipeline.after_commit import after_events_committed
    from tests.live.factories import drain_notifications

    base = w.base_url
    async with await GraphQLWS.connect(base, w.owner.token) as owner, \
            await GraphQLWS.connect(base, w.intruder.token) as intruder:
        await owner.subscribe(doc, variables)
        await intruder.subscribe(doc, variables)
        await wait_for_subscribers(w.owner.id)
        await wait_for_subscribers(w.intruder.id)
        await after_events_committed([await store_event(w.email)], current_runtime().settings)
        assert await owner.next_data()  # the owner's stream works...
        assert await intruder.silent_for(0.5)  # ...and the intruder's shows nothing of it
    await drain_notifications()


async def _owners_mailbox(w: World) -> Mailbox:
    """The owner's connected mailbox (made directly: no server is dialled here)."""
    return await Mailbox.create(
        user_id=w.owner.id, address=w.owner.email, smtp_host="smtp.example.com:465",
        smtp_url_secret=encrypt("smtps://owner:secret@smtp.example.com", ["k" * 48]),
        verified_at=datetime.now(UTC),
    )


async def _mailbox(gql: GraphQL, w: World, doc: str) -> None:
    await _owners_mailbox(w)
    assert _data(await gql(doc, user=w.intruder))["mailbox"] is None
    assert _data(await gql(doc, user=w.owner))["mailbox"]["address"] == w.owner.email


async def _connect_mailbox(gql: GraphQL, w: World, doc: str) -> None:
    mine = await _owners_mailbox(w)
    variables = {"i": {"smtpUrl": f"smtp://intruder:pw@127.0.0.1:{free_port()}"}}
    answer = _data(await gql(doc, variables, user=w.intruder))["connectMailbox"]
    assert answer["mailbox"] is None
    assert [e["code"] for e in answer["errors"]] == ["MAILBOX_UNREACHABLE"]
    assert (await Mailbox.get(user_id=w.owner.id)).smtp_url_secret == mine.smtp_url_secret
    assert not await Mailbox.filter(user_id=w.intruder.id).exists()


async def _disconnect_mailbox(gql: GraphQL, w: World, doc: str) -> None:
    await _owners_mailbox(w)
    assert _data(await gql(doc, user=w.intruder))["disconnectMailbox"] is False
    assert await Mailbox.filter(user_id=w.owner.id).exists()


CASES: dict[str, Case] = {
    "Query.me": Case("owner", "{ me { email } }", _none, _me),
    "Query.trackingPreferences": Case(
        "owner", "{ trackingPreferences { openTrackingEnabled } }", _none, _preferences
    ),
    "Query.sentEmails": Case(
        "owner", "{ sentEmails { totalCount edges { node { id } } } }", _none, _sent_emails
    ),
    "Query.sentEmail": Case(
        "owner", "query($id: ID!) { sentEmail(id: $id) { id subject } }",
        lambda w: {"id": str(w.email.id)}, _sent_email,
    ),
    "Query.notifications": Case(
        "owner", "{ notifications { edges { node { id } } } }", _none, _notifications
    ),
    "Query.unreadNotificationCount": Case(
        "owner", "{ unreadNotificationCount }", _none, _unread
    ),
    "Query.recipientConsent": Case(
        "company", "query($email: String!) { recipientConsent(email: $email) { email status } }",
        lambda w: {"email": w.recipient}, _recipient_consent,
    ),
    "Query.recipientData": Case(
        "admin", "query($email: String!) { recipientData(email: $email) }",
        lambda w: {"email": w.recipient}, _recipient_data,
    ),
    "Mutation.updateTrackingPreferences": Case(
        "owner",
        "mutation($i: TrackingPreferencesInput!) { updateTrackingPreferences(input: $i) "
        "{ openTrackingEnabled } }",
        lambda w: {"i": {"openTrackingEnabled": True}}, _update_preferences,
    ),
    "Mutation.sendEmail": Case(
        "owner",
        "mutation($i: SendEmailInput!) { sendEmail(input: $i) "
        "{ email { id subject } errors { code } } }",
        lambda w: {"i": {"to": ["bob@example.com"], "subject": "s", "text": "x"}}, _send_email,
    ),
    "Mutation.markNotificationsRead": Case(
        "owner",
        "mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }",
        lambda w: {"ids": [str(w.notification.id)], "all": False}, _mark_read,
    ),
    "Mutation.recordConsent": Case(
        "company",
        "mutation($email: String!, $status: ConsentStatus!, $source: String!) "
        "{ recordConsent(email: $email, status: $status, source: $source) { email status } }",
        lambda w: {"email": w.recipient, "status": "DENIED", "source": "phone"}, _record_consent,
    ),
    "Mutation.requestTrackingConsent": Case(
        "company",
        "mutation($email: String!) { requestTrackingConsent(email: $email) { email } }",
        lambda w: {"email": w.recipient}, _request_consent,
    ),
    "Mutation.eraseRecipientData": Case(
        "admin",
        "mutation($email: String!) { eraseRecipientData(email: $email) { eventsDeleted } }",
        lambda w: {"email": w.recipient}, _erase,
    ),
    "Query.mailbox": Case("owner", "{ mailbox { address } }", _none, _mailbox),
    "Mutation.connectMailbox": Case(
        "owner",
        "mutation($i: ConnectMailboxInput!) { connectMailbox(input: $i) "
        "{ mailbox { address } errors { code } } }",
        lambda w: {"i": {"smtpUrl": "smtp://a:b@127.0.0.1:9"}}, _connect_mailbox,
    ),
    "Mutation.disconnectMailbox": Case(
        "owner", "mutation { disconnectMailbox }", _none, _disconnect_mailbox
    ),
    "Subscription.trackingEvents": Case(
        "owner", "subscription($emailId: ID) { trackingEvents(emailId: $emailId) { id emailId } }",
        lambda w: {"emailId": str(w.email.id)}, _subscription_events,
    ),
    "Subscription.notifications": Case(
        "owner", "subscription { notifications { id count } }", _none, _subscription_bell,
    ),
}


def served_fields() -> set[str]:
    """Every root field of the schema the server builds (graphql_schema.schema.build_schema)."""
    schema = build_schema()._schema
    roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
    return {f"{root.name}.{name}" for root in roots if root is not None for name in root.fields}


def test_every_served_field_has_a_case_in_the_matrix() -> None:
    served = served_fields()
    missing = sorted(served - CASES.keys())
    assert not missing, (
        f"fields without an authorization case: {missing}; add each to CASES in {__file__} "
        "(who may call it, what another user sees)"
    )
    stale = sorted(CASES.keys() - served)
    assert not stale, f"cases for fields the schema no longer serves: {stale}"


@pytest.fixture
async def world(make_user: UserFactory, gql: GraphQL, server: str) -> World:
    owner, intruder, admin = await make_user(), await make_user(), await make_user(admin=True)
    recipient = unique_address("example.org")
    email = await make_email(owner.id, recipients=(recipient,), per_recipient=True)
    await store_event(email, recipient=recipient)
    await SentEmail.filter(id=email.id).update(idempotency_key="owner-key")
    notification = await Notification.create(
        user_id=owner.id, email_id=email.id, kind="EMAIL_OPENED", updated_at=email.created_at
    )
    _data(await gql(
        'mutation($e: String!) { recordConsent(email: $e, status: DENIED, source: "call") '
        "{ status } }", {"e": recipient}, user=owner,
    ))
    _data(await gql("mutation { updateTrackingPreferences(input: {openTrackingEnabled: false}) "
                    "{ openTrackingEnabled } }", user=owner))
    return World(owner, intruder, admin, email, notification, recipient, server)


@pytest.mark.parametrize("field", sorted(CASES))
async def test_without_a_token_every_field_is_refused(
    field: str, http: httpx.AsyncClient, server: str
) -> None:
    case = CASES[field]
    if field.startswith("Subscription."):
        with pytest.raises(Rejected) as refused:
            await GraphQLWS.connect(server, None)
        assert refused.value.code == 4403
        return
    response = await http.post("/graphql", json={"query": case.document, "variables": {}})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("field", sorted(CASES))
async def test_as_another_user_or_a_non_admin(field: str, gql: GraphQL, world: World) -> None:
    case = CASES[field]
    await case.as_intruder(gql, world, case.document)


@pytest.mark.parametrize("field", sorted(f for f, c in CASES.items() if c.scope == "admin"))
async def test_admin_operations_work_for_admins(field: str, gql: GraphQL, world: World) -> None:
    case = CASES[field]
    body = await gql(case.document, case.variables(world), user=world.admin)
    assert "errors" not in body, body
