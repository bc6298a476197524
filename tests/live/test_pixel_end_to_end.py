"""End to end in embedded mode: a real pixel request rings the sender's live subscriptions."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import UserFactory
from tests.live.factories import wait_for_subscribers
from tests.live.wsclient import GraphQLWS
from tests.tracking.tracked_mail import THUNDERBIRD_UA, make_tracked_mail

EVENTS = "subscription { trackingEvents { emailId kind source } }"
BELL = "subscription { notifications { kind count email { id } } }"


async def test_a_pixel_hit_reaches_the_senders_event_and_bell_subscriptions(
    server: str, settings: Any, make_user: UserFactory, http: httpx.AsyncClient
) -> None:
    sender, other = await make_user(), await make_user()
    mail = await make_tracked_mail(settings, sender.id)
    async with await GraphQLWS.connect(server, sender.token) as mine, \
            await GraphQLWS.connect(server, other.token) as theirs:
        events_op = await mine.subscribe(EVENTS)
        bell_op = await mine.subscribe(BELL)
        await theirs.subscribe(EVENTS)
        await wait_for_subscribers(sender.id, 2)
        await wait_for_subscribers(other.id)
        response = await http.get(mail.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
        assert response.status_code == 200
        got: dict[str, Any] = {}
        while len(got) < 2:
            message = await mine.next(20)
            assert message["type"] == "next", message
            got[message["id"]] = message["payload"]["data"]
        email_id = str(mail.email.id)
        assert got[events_op]["trackingEvents"] == {
            "emailId": email_id, "kind": "OPEN", "source": "HUMAN"
        }
        assert got[bell_op]["notifications"] == {
            "kind": "EMAIL_OPENED", "count": 1, "email": {"id": email_id}
        }
        assert await theirs.silent_for(0.3)
