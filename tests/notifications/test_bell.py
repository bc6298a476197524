"""The bell through GraphQL: coalescing, read state, preferences, sources, scoping, pages."""

from __future__ import annotations

from plugin.notifications.models import Notification
from plugin.preferences.service import PreferenceChanges, get_preferences, update_preferences
from plugin.runtime import current_runtime
from plugin.tracking.pipeline.after_commit import after_events_committed
from tests.conftest import GraphQL, UserFactory
from tests.live.factories import drain_notifications, make_email, store_event

BELL = """query($unread: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unread, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind url count read email { id } } }
  }
  unreadNotificationCount
}"""
MARK = "mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }"


async def ring(*events: object) -> None:
    await after_events_committed(list(events), current_runtime().settings)  # type: ignore[arg-type]
    await drain_notifications(fail_fast=True)


async def test_repeated_opens_coalesce_until_read_then_start_afresh(
    gql: GraphQL, make_user: UserFactory
) -> None:
    user = await make_user()
    email = await make_email(user.id)
    await ring(await store_event(email))
    await ring(await store_event(email), await store_event(email))
    body = await gql(BELL, user=user)
    nodes = [edge["node"] for edge in body["data"]["notifications"]["edges"]]
    assert [(n["kind"], n["count"], n["read"]) for n in nodes] == [("EMAIL_OPENED", 3, False)]
    assert body["data"]["unreadNotificationCount"] == 1

    marked = await gql(MARK, {"ids": [nodes[0]["id"]]}, user=user)
    assert marked["data"]["markNotificationsRead"] == 1
    again = await gql(MARK, {"ids": [nodes[0]["id"]]}, user=user)
    assert again["data"]["markNotificationsRead"] == 0  # already read: nothing changed

    await ring(await store_event(email))
    body = await gql(BELL, user=user)
    nodes = [edge["node"] for edge in body["data"]["notifications"]["edges"]]
    assert [(n["count"], n["read"]) for n in nodes] == [(1, False), (3, True)]
    assert body["data"]["notifications"]["totalCount"] == 2
    assert body["data"]["unreadNotificationCount"] == 1
    unread = await gql(BELL, {"unread": True}, user=user)
    assert unread["data"]["notifications"]["totalCount"] == 1


async def test_clicks_ring_per_link_with_the_link(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    email = await make_email(user.id, links=("https://example.org/a", "https://example.org/b"))
    await ring(
        await store_event(email, "CLICK", link_position=0),
        await store_event(email, "CLICK", link_position=1),
        await store_event(email, "CLICK", link_position=0),
    )
    body = await gql(BELL, user=user)
    nodes = {edge["node"]["url"]: edge["node"] for edge in body["data"]["notifications"]["edges"]}
    assert {url: (n["kind"], n["count"]) for url, n in nodes.items()} == {
        "https://example.org/a": ("LINK_CLICKED", 2),
        "https://example.org/b": ("LINK_CLICKED", 1),
    }


async def test_per_recipient_copies_ring_per_recipient(make_user: UserFactory) -> None:
    user = await make_user()
    email = await make_email(
        user.id, recipients=("a@example.net", "b@example.net"), per_recipient=True
    )
    await ring(
        await store_event(email, recipient="a@example.net"),
        await store_event(email, recipient="b@example.net"),
        await store_event(email, recipient="a@example.net"),
    )
    rows = await Notification.filter(user_id=user.id).order_by("recipient")
    assert [(n.recipient, n.count) for n in rows] == [("a@example.net", 2), ("b@example.net", 1)]


async def test_no_bell_when_notifications_are_off(gql: GraphQL, make_user: UserFactory) -> None:
    from plugin.accounts.models import User

    user = await make_user()
    changes = PreferenceChanges(notifications_enabled=False)
    await update_preferences(await User.get(id=user.id), changes)
    assert not (await get_preferences(user.id)).notifications_enabled
    email = await make_email(user.id)
    await ring(await store_event(email), await store_event(email, "CLICK"))
    body = await gql(BELL, user=user)
    assert body["data"]["notifications"]["totalCount"] == 0
    assert body["data"]["unreadNotificationCount"] == 0


async def test_machine_bot_self_and_duplicate_events_never_ring(make_user: UserFactory) -> None:
    from plugin.notifications.service import notify_for_event

    user = await make_user()
    email = await make_email(user.id)
    events = [
        await store_event(email, "OPEN", "MACHINE"),
        await store_event(email, "CLICK", "BOT"),
        await store_event(email, "OPEN", "SELF"),
        await store_event(email, "OPEN", "HUMAN", duplicate=True),
    ]
    await ring(*events)
    # Even handed to the service directly (a stale or forged message), they do not ring.
    for event in events:
        assert await notify_for_event(event.event_id) is None
    assert await Notification.filter(user_id=user.id).count() == 0


async def test_marking_read_is_scoped_to_the_caller(gql: GraphQL, make_user: UserFactory) -> None:
    owner, other = await make_user(), await make_user()
    await ring(await store_event(await make_email(owner.id)))
    await ring(await store_event(await make_email(other.id)))
    theirs = await Notification.get(user_id=owner.id)
    mine = await Notification.get(user_id=other.id)
    body = await gql(MARK, {"ids": [str(theirs.id), "999999999", "nope", "-1"]}, user=other)
    assert body["data"]["markNotificationsRead"] == 0
    assert await gql(MARK, {"all": True}, user=other) == {
        "data": {"markNotificationsRead": 1}, "_status": 200
    }
    await theirs.refresh_from_db()
    await mine.refresh_from_db()
    assert theirs.read_at is None and mine.read_at is not None
    listed = await gql(BELL, user=other)
    assert [e["node"]["id"] for e in listed["data"]["notifications"]["edges"]] == [str(mine.id)]


async def test_pages_newest_activity_first(gql: GraphQL, make_user: UserFactory) -> None:
    user = await make_user()
    emails = [await make_email(user.id) for _ in range(3)]
    for email in emails:
        await ring(await store_event(email))
    await ring(await store_event(emails[0]))  # new activity brings the oldest back on top
    first = await gql(BELL, {"first": 2}, user=user)
    page = first["data"]["notifications"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    ids = [e["node"]["email"]["id"] for e in page["edges"]]
    assert ids == [str(emails[0].id), str(emails[2].id)]
    rest = await gql(BELL, {"first": 2, "after": page["pageInfo"]["endCursor"]}, user=user)
    page = rest["data"]["notifications"]
    assert [e["node"]["email"]["id"] for e in page["edges"]] == [str(emails[1].id)]
    assert page["pageInfo"]["hasNextPage"] is False
    bad = await gql(BELL, {"first": 0}, user=user)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_PAGE_SIZE"
