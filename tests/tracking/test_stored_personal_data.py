"""What a hit leaves in storage: no raw client address, only its keyed hash and network."""

from __future__ import annotations

from typing import Any

import httpx

from plugin.tracking.models import TrackingEvent
from tests.conftest import UserFactory
from tests.tracking.tracked_mail import THUNDERBIRD_UA, make_tracked_mail, wait_for_events


async def test_no_raw_client_address_is_stored(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    await http.get(mail.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
    await wait_for_events(mail.email, 1)
    rows = await TrackingEvent.filter(email_id=mail.email.id).values()
    assert rows
    for row in rows:
        stored = " ".join(str(value) for value in row.values())
        assert "127.0.0.1" not in stored, row  # the test client's address
        assert len(row["client_hash"]) == 64 and row["client_prefix"] == "127.0.0.0/24"
