"""Retention: the purge (service, actor chain, CLI) and the recipient export on the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from consent.retention import purge_expired_events
from consent.service import record_consent
from plugin.runtime import current_runtime
from plugin.sending.models import SentEmail
from plugin.tracking.models import TrackingEvent
from tests.consent.factories import make_email, store_event, unique_address
from workers.actors import purge as purge_actor


async def _old_and_new(user_id: int, days: int) -> tuple[SentEmail, TrackingEvent, TrackingEvent]:
    email = await make_email(user_id, (unique_address("firma.de"),))
    old = await store_event(email, occurred_at=datetime.now(UTC) - timedelta(days=days + 1))
    new = await store_event(email, occurred_at=datetime.now(UTC) - timedelta(days=days - 1))
    return email, old, new


async def test_purge_deletes_events_past_retention_and_keeps_aggregates(
    make_user: Any, settings: Any
) -> None:
    user = await make_user()
    email, old, new = await _old_and_new(user.id, settings.event_retention_days)
    deleted = await purge_expired_events(settings)
    assert deleted >= 1
    assert not await TrackingEvent.filter(id=old.id).exists()
    assert await TrackingEvent.filter(id=new.id).exists()
    assert (await SentEmail.get(id=email.id)).open_count == 3


async def test_the_purge_actor_runs_its_chain_only(make_user: Any, settings: Any) -> None:
    user = await make_user()
    _, old, _ = await _old_and_new(user.id, settings.event_retention_days)
    body = purge_actor.purge_old_events.fn.__wrapped__  # type: ignore[attr-defined]
    await body("superseded-chain")  # an older chain stops without purging
    assert await TrackingEvent.filter(id=old.id).exists()
    await body(None)  # a one-off run purges and schedules nothing
    assert not await TrackingEvent.filter(id=old.id).exists()


async def test_runtime_start_began_one_purge_chain(server: str) -> None:
    runtime = current_runtime()
    from workers import periodic

    assert periodic._embedded_chains.get("purge_old_events") is not None
    assert "purge_old_events" in runtime.broker.get_declared_actors()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    return subprocess.run(
        [sys.executable, "-m", "plugin.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


async def test_cli_purge_and_export_recipient(
    make_user: Any, settings: Any, base_env: dict[str, str]
) -> None:
    user = await make_user()
    _, old, _new = await _old_and_new(user.id, settings.event_retention_days)
    purged = await asyncio.to_thread(_cli, ["purge"], base_env)
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("purged ")
    assert not await TrackingEvent.filter(id=old.id).exists()

    anna = unique_address("firma.de")
    await record_consent(anna, "DENIED", "phone", None, settings)
    exported = await asyncio.to_thread(_cli, ["export-recipient", anna.upper()], base_env)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["recipient"] == anna
    assert [r["status"] for r in data["consentHistory"]] == ["DENIED"]
    assert data["trackingEvents"] == []
