"""The pipeline's jobs go out with its transaction: none when a batch rolls back, the held
clicks' finalise and the bell's job once it commits (plugin.transaction)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import plugin.jobs as jobs
import plugin.tracking.pipeline.ingest as ingest
from plugin.runtime import current_runtime
from plugin.tracking.models import TrackingEvent
from tests.conftest import UserFactory
from tests.tracking.tracked_mail import make_tracked_mail, wire_hit

OURS = {"finalise_clicks", "notify_tracking_events"}


async def test_a_batch_that_rolls_back_sends_no_job_and_its_retry_sends_them(
    make_user: UserFactory, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    now = time.time()
    hits = [wire_hit(mail, at=now), wire_hit(mail, at=now + 1, kind="C", link=1)]
    sent: list[tuple[str, Any]] = []
    real_send = jobs._send

    def capture(batch: list[Any]) -> None:
        sent.extend((job.name, args[0]) for job, args, _ in batch if job.name in OURS)
        real_send(batch)

    monkeypatch.setattr(jobs, "_send", capture)
    real_bump = ingest.bump_aggregates

    async def database_gone(*_args: Any) -> None:
        raise ConnectionError("the database went away mid-batch")

    monkeypatch.setattr(ingest, "bump_aggregates", database_gone)
    with pytest.raises(ConnectionError):
        await ingest.ingest_hits(hits, current_runtime())
    assert sent == []
    assert not await TrackingEvent.filter(email_id=mail.email.id).exists()

    monkeypatch.setattr(ingest, "bump_aggregates", real_bump)  # the batch, retried
    await ingest.ingest_hits(hits, current_runtime())
    stored = {
        row["kind"].value if hasattr(row["kind"], "value") else row["kind"]: row["event_id"]
        for row in await TrackingEvent.filter(email_id=mail.email.id).values("kind", "event_id")
    }
    assert sorted(name for name, _ in sent) == sorted(OURS)
    by_name = dict(sent)
    assert by_name["finalise_clicks"] == [uuid.UUID(str(stored["CLICK"])).hex]
    assert by_name["notify_tracking_events"] == [str(stored["OPEN"])]
