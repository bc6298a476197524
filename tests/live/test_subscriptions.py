"""GraphQL subscriptions over a real WebSocket against the real server (embedded mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from graphql_schema import ws_transport
from graphql_schema.projection import ProjectedBatch
from graphql_schema.ws_transport import next_frames
from plugin.hooks import RecordedEvent
from plugin.live.bus import current_bus
from plugin.runtime import current_runtime
from plugin.tracking.pipeline.after_commit import after_events_committed
from tests.conftest import UserFactory
from tests.live.factories import drain_notifications, make_email, store_event, wait_for_subscribers
from tests.live.wsclient import GraphQLWS, Rejected


async def _committed(events: Sequence[RecordedEvent]) -> None:
    """The pipeline's after-commit fan-out, with this process's settings."""
    await after_events_committed(events, current_runtime().settings)


EVENTS = """subscription($emailId: ID) { trackingEvents(emailId: $emailId) {
  id emailId kind occurredAt source url recipient duplicate
  description client { name version os device proxy } } }"""
BELL = "subscription { notifications { id kind url count read email { id subject } } }"


async def test_an_open_reaches_the_senders_subscription_and_no_one_elses(
    server: str, make_user: UserFactory
) -> None:
    sender, other = await make_user(), await make_user()
    email = await make_email(sender.id)
    async with await GraphQLWS.connect(server, sender.token) as mine, \
            await GraphQLWS.connect(server, other.token) as theirs:
        await mine.subscribe(EVENTS)
        await theirs.subscribe(EVENTS)
        await wait_for_subscribers(sender.id)
        await wait_for_subscribers(other.id)
        event = await store_event(email)
        await _committed([event])
        data = (await mine.next_data())["trackingEvents"]
        assert data["emailId"] == str(email.id)
        assert (data["kind"], data["source"], data["duplicate"]) == ("OPEN", "HUMAN", False)
        assert data["occurredAt"]
        # Who opened, on what, from the stored user agent and rule.
        assert data["description"] == "Opened in Thunderbird 128 on Windows"
        assert data["client"] == {
            "name": "Thunderbird", "version": "128.0", "os": "Windows 10", "device": "desktop",
            "proxy": None,
        }  # fmt: skip
        assert await theirs.silent_for(0.5)
    await drain_notifications()


async def test_every_source_is_shown_live_and_clicks_carry_their_url(
    server: str, make_user: UserFactory
) -> None:
    sender = await make_user()
    email = await make_email(sender.id, links=("https://example.org/a",))
    async with await GraphQLWS.connect(server, sender.token) as client:
        await client.subscribe(EVENTS, {"emailId": str(email.id)})
        await wait_for_subscribers(sender.id)
        machine = await store_event(email, "OPEN", "MACHINE")
        bot = await store_event(email, "CLICK", "BOT")
        await _committed([machine, bot])
        first = (await client.next_data())["trackingEvents"]
        second = (await client.next_data())["trackingEvents"]
        assert (first["source"], first["kind"]) == ("MACHINE", "OPEN")
        assert (second["source"], second["kind"], second["url"]) == (
            "BOT", "CLICK", "https://example.org/a"
        )


async def test_email_id_narrows_the_stream_and_a_foreign_one_yields_nothing(
    server: str, make_user: UserFactory
) -> None:
    sender, snoop = await make_user(), await make_user()
    watched, other = await make_email(sender.id), await make_email(sender.id)
    async with await GraphQLWS.connect(server, sender.token) as mine, \
            await GraphQLWS.connect(server, snoop.token) as theirs:
        await mine.subscribe(EVENTS, {"emailId": str(watched.id)})
        for email_id in (str(watched.id), "not-a-number", "999999999"):
            await theirs.subscribe(EVENTS, {"emailId": email_id})
        await wait_for_subscribers(sender.id)
        await wait_for_subscribers(snoop.id, 3)
        await _committed([await store_event(other, "OPEN", "MACHINE")])
        await _committed([await store_event(watched, "OPEN", "MACHINE")])
        data = (await mine.next_data())["trackingEvents"]
        assert data["emailId"] == str(watched.id)  # the other email's open was filtered out
        assert await mine.silent_for(0.3)
        # Neither an error nor data: a foreign id looks like an own email nobody opens.
        assert await theirs.silent_for(0.5)


@pytest.mark.parametrize(
    "payload", [{}, {"Authorization": "Bearer mb_forged"}, {"Authorization": 5}]
)
async def test_a_connection_without_a_valid_token_is_refused(server: str, payload: dict) -> None:
    with pytest.raises(Rejected) as info:
        await GraphQLWS.connect(server, None, payload=payload)
    assert info.value.code == 4403


async def test_the_bell_subscription_sees_creation_and_coalesced_updates(
    server: str, make_user: UserFactory
) -> None:
    sender = await make_user()
    email = await make_email(sender.id)
    async with await GraphQLWS.connect(server, sender.token) as client:
        await client.subscribe(BELL)
        await wait_for_subscribers(sender.id)
        await _committed([await store_event(email)])
        created = (await client.next_data())["notifications"]
        assert (created["kind"], created["count"], created["read"]) == ("EMAIL_OPENED", 1, False)
        assert created["email"] == {"id": str(email.id), "subject": "Offer"}
        await _committed([await store_event(email)])
        updated = (await client.next_data())["notifications"]
        assert (updated["id"], updated["count"]) == (created["id"], 2)
        # MACHINE opens are live events but never ring the bell.
        await _committed([await store_event(email, "OPEN", "MACHINE")])
        await drain_notifications()
        assert await client.silent_for(0.3)


async def test_a_bell_batch_reaches_the_subscription_as_one_message_per_notification(
    server: str, make_user: UserFactory
) -> None:
    sender = await make_user()
    emails = [await make_email(sender.id) for _ in range(3)]
    async with await GraphQLWS.connect(server, sender.token) as client:
        await client.subscribe(BELL)
        await wait_for_subscribers(sender.id)
        await _committed([await store_event(email) for email in emails])
        got = [(await client.next_data())["notifications"] for _ in emails]
        assert [n["email"]["id"] for n in got] == [str(email.id) for email in emails]
        assert [n["count"] for n in got] == [1, 1, 1]
        await _committed([await store_event(emails[1]), await store_event(emails[1])])
        again = (await client.next_data())["notifications"]
        assert (again["id"], again["count"]) == (got[1]["id"], 3)
        await drain_notifications()
        assert await client.silent_for(0.3)


async def test_completing_or_dropping_a_subscription_releases_it(
    server: str, make_user: UserFactory
) -> None:
    user = await make_user()
    client = await GraphQLWS.connect(server, user.token)
    op_id = await client.subscribe(EVENTS)
    await client.subscribe(BELL)
    await wait_for_subscribers(user.id, 2)
    await client.complete(op_id)
    for _ in range(500):
        if current_bus().subscriber_count(user.id) == 1:
            break
        await asyncio.sleep(0.01)
    assert current_bus().subscriber_count(user.id) == 1
    client.ws.transport.abort()  # an abrupt TCP drop, no close handshake
    for _ in range(500):
        if current_bus().subscriber_count(user.id) == 0:
            break
        await asyncio.sleep(0.01)
    assert current_bus().subscriber_count(user.id) == 0
    await client.close()


_EVENT_FIELDS = """id emailId kind occurredAt source url recipient duplicate rule description
  type: __typename client { name version os device proxy }"""


async def test_projected_events_are_the_messages_full_execution_sends(
    server: str, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plain selection is projected (graphql_schema.projection); the fragment makes
    # the same selection go through full execution. Same data, same order, per event.
    batches: list[int] = []

    def counted(operation_id: str, batch: ProjectedBatch) -> Iterator[str]:
        batches.append(len(batch.items))
        return next_frames(operation_id, batch)

    monkeypatch.setattr(ws_transport, "next_frames", counted)
    sender = await make_user()
    email = await make_email(sender.id, links=("https://example.org/a",),
                             recipients=("ada@example.net", "bob@example.net"),
                             per_recipient=True)
    async with await GraphQLWS.connect(server, sender.token) as client:
        projected = await client.subscribe(
            f"subscription {{ trackingEvents {{ {_EVENT_FIELDS} }} }}"
        )
        executed = await client.subscribe(
            "subscription { trackingEvents { ...E } } "
            f"fragment E on TrackingEvent {{ {_EVENT_FIELDS} }}"
        )
        await wait_for_subscribers(sender.id, 2)
        events = [
            await store_event(email, "OPEN", "HUMAN", recipient="ada@example.net"),
            await store_event(email, "CLICK", "BOT", link_position=0,
                              recipient="bob@example.net"),
            await store_event(email, "OPEN", "MACHINE", duplicate=True,
                              recipient="ada@example.net"),
        ]
        await _committed(events[:1])
        await _committed(events[1:])
        received: dict[str, list[dict[str, object]]] = {projected: [], executed: []}
        for _ in range(2 * len(events)):
            message = await client.next()
            assert message["type"] == "next" and set(message["payload"]) == {"data"}, message
            received[message["id"]].append(message["payload"]["data"])
    assert received[projected] == received[executed]
    assert [e["trackingEvents"]["kind"] for e in received[projected]] == ["OPEN", "CLICK", "OPEN"]
    assert sum(batches) == len(events)  # the projected operation's, and only its
    await drain_notifications()
