"""links and events of a page of emails, batched per level: the same answers as per email."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.tracking.models import EventKind, EventSourceField, TrackingEvent
from plugin.tracking.pipeline.store import PENDING_RULE
from tests.conftest import GraphQL, UserFactory
from tests.tracking.tracked_mail import TrackedMail, make_tracked_mail

QUERY = """query($n: Int, $e: Int) { sentEmails(first: $n) { edges { node {
    subject links { url clickCount } events(first: $e) { id kind url occurredAt } } } } }"""


async def _event(mail: TrackedMail, minutes: int, *, rule: str = "human", link: int = 0) -> int:
    event = await TrackingEvent.create(
        event_id=uuid.uuid4(), user_id=mail.email.user_id,  # type: ignore[attr-defined]
        email_id=mail.email.id, copy_id=mail.copies[0].id,
        link_id=mail.links[link - 1].id if link else None,
        kind=EventKind.CLICK if link else EventKind.OPEN, source=EventSourceField.HUMAN,
        rule=rule, occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
        method="GET", client_hash="h",
    )
    return event.id


async def test_each_email_gets_its_own_newest_events_and_links(
    gql: GraphQL, make_user: UserFactory, settings: Any
) -> None:
    user, other = await make_user(), await make_user()
    mails = [
        await make_tracked_mail(settings, user.id, urls=[f"https://example.com/{i}/a"])
        for i in range(3)
    ]
    theirs = await make_tracked_mail(settings, other.id)
    expected: dict[int, list[int]] = {}
    for i, mail in enumerate(mails):
        ids = [await _event(mail, minute) for minute in range(i + 1)]
        ids.append(await _event(mail, 100 + i, link=1))
        await _event(mail, 500, rule=PENDING_RULE)  # undecided: never shown
        expected[mail.email.id] = list(reversed(ids))
    await _event(theirs, 1000)

    body = await gql(QUERY, {"n": 10, "e": 2}, user=user)
    nodes = [edge["node"] for edge in body["data"]["sentEmails"]["edges"]]
    assert len(nodes) == 3
    for node, mail in zip(nodes, reversed(mails), strict=True):
        assert [int(e["id"]) for e in node["events"]] == expected[mail.email.id][:2]
        assert node["events"][0]["kind"] == "CLICK"
        assert node["events"][0]["url"] == mail.urls[0]
        assert node["links"] == [{"url": mail.urls[0], "clickCount": 0}]

    everything = await gql(QUERY, {"n": 3, "e": 100}, user=user)
    for edge, mail in zip(everything["data"]["sentEmails"]["edges"], reversed(mails), strict=True):
        assert [int(e["id"]) for e in edge["node"]["events"]] == expected[mail.email.id]
