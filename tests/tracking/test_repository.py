"""The Mail tab's tracking reads answer for the owner only: another user's email id gets nothing."""

from __future__ import annotations

from plugin.tracking.repository import links_of, newest_events, open_breakdown
from tests.conftest import UserFactory
from tests.live.factories import make_email, store_event


async def test_an_email_of_another_user_has_no_links_events_or_opens(
    make_user: UserFactory,
) -> None:
    owner, intruder = await make_user(), await make_user()
    email = await make_email(owner.id)
    await store_event(email)
    await store_event(email, "CLICK", link_position=0)

    assert [link.url for link in (await links_of(owner.id, [email.id]))[email.id]] == [
        "https://example.org/offer"
    ]
    assert len((await newest_events(owner.id, [email.id], 10))[email.id]) == 2
    assert (await open_breakdown(owner.id, email.id)).by_device != []

    # The intruder names the owner's email id, alone and among its own.
    mine = await make_email(intruder.id)
    assert email.id not in await links_of(intruder.id, [email.id, mine.id])
    assert email.id not in await newest_events(intruder.id, [email.id, mine.id], 10)
    breakdown = await open_breakdown(intruder.id, email.id)
    assert breakdown.by_device == [] and breakdown.by_client == []
