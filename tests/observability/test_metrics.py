"""/metrics: Prometheus text for a scraper with the token, nothing for anyone else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import METRICS_TOKEN
from tests.sending.helpers import mail_from, send
from tests.tracking.tracked_mail import THUNDERBIRD_UA, make_tracked_mail, wait_for_events

AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(http: httpx.AsyncClient) -> dict[Any, float]:
    response = await http.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_a_scraper_with_the_token_gets_every_metric(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "mailbeacon_tracking_hits",
        "mailbeacon_handoff_batch_size",
        "mailbeacon_handoff_batch_seconds",
        "mailbeacon_queue_backlog",
        "mailbeacon_queue_lag_seconds",
        "mailbeacon_events_recorded",
        "mailbeacon_ingest_seconds",
        "mailbeacon_notifications",
        "mailbeacon_live_subscribers",
        "mailbeacon_copies_sent",
        "mailbeacon_smtp_seconds",
    } <= names


async def test_without_the_right_token_the_answer_is_401(http: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
    ):
        response = await http.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert "mailbeacon_" not in response.text


async def test_metrics_are_off_without_a_token(settings: Any) -> None:
    from dataclasses import replace

    from plugin.app import create_app

    app = create_app(replace(settings, metrics_token=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for headers in ({}, AUTH):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "mailbeacon_" not in response.text


async def test_hits_move_the_counters(
    http: httpx.AsyncClient, make_user: Any, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    before = await scrape(http)
    browser = {"User-Agent": THUNDERBIRD_UA}
    assert (await http.get(mail.open_path(), headers=browser)).status_code == 200
    assert (await http.get(mail.click_path(1), headers=browser)).status_code == 302
    assert (await http.get("/t/o/not-a-token.gif")).status_code == 200
    assert (await http.post(mail.open_path())).status_code == 405
    await wait_for_events(mail.email, 2, decided_only=False)
    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("mailbeacon_tracking_hits_total", kind="open", outcome="queued") == 1
    assert moved("mailbeacon_tracking_hits_total", kind="click", outcome="queued") == 1
    assert moved("mailbeacon_tracking_hits_total", kind="open", outcome="invalid") == 1
    assert moved("mailbeacon_tracking_hits_total", kind="open", outcome="method_not_allowed") == 1
    assert moved("mailbeacon_handoff_batch_size_count") >= 1
    assert moved("mailbeacon_handoff_batch_size_sum") == 2
    assert moved("mailbeacon_ingest_seconds_count") >= 1
    assert moved("mailbeacon_queue_lag_seconds_count") >= 1
    assert moved(
        "mailbeacon_events_recorded_total", kind="OPEN", source="HUMAN", duplicate="false"
    ) == 1
    assert moved(
        "mailbeacon_events_recorded_total", kind="CLICK", source="PENDING", duplicate="false"
    ) == 1
    assert ("mailbeacon_queue_backlog", ()) in after


async def test_sends_move_the_counters(
    http: httpx.AsyncClient, gql: Any, make_user: Any, smtp_server: Any
) -> None:
    user = await make_user()
    before = await scrape(http)
    payload = await send(gql, user, to=["metrics@example.com"], html="<p>Hi</p>")
    assert payload["errors"] == []
    await mail_from(smtp_server, user.email)
    # The worker counts the copy after the SMTP server took it: wait (bounded) for that.
    for _ in range(400):
        after = await scrape(http)
        sent = value(after, "mailbeacon_copies_sent_total", status="sent") - value(
            before, "mailbeacon_copies_sent_total", status="sent"
        )
        if sent:
            break
        await asyncio.sleep(0.05)
    assert sent == 1
    assert value(after, "mailbeacon_smtp_seconds_count") > value(
        before, "mailbeacon_smtp_seconds_count"
    )


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from plugin.observability.multiprocess import enable
    enable(Path(sys.argv[1]))
    from plugin.observability import metrics
    hits = metrics.HITS_ANSWERED.labels("open", "queued")
    hits.inc(int(sys.argv[2]))
    metrics.LIVE_SUBSCRIBERS.inc(int(sys.argv[2]))
    metrics.record_copy_sent("sent", 0.01)
    print("ok", flush=True)
    sys.stdin.read()  # stay alive (live gauges count live processes) until told
    """
)
# A scraping server process: started with the directory in its environment, as granian's
# workers are (enable() at a command's start also forgets processes that are gone).
_READER = textwrap.dedent(
    """
    import sys
    from plugin.observability.exposition import render_metrics
    sys.stdout.write(render_metrics().decode())
    """
)


def _run_reader(directory: Path) -> dict[Any, float]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    out = subprocess.run(
        [sys.executable, "-c", _READER], env=env,
        capture_output=True, text=True, check=True, timeout=60,
    )
    return samples(out.stdout)


def test_one_scrape_sums_every_process(tmp_path: Path) -> None:
    """Two processes write (as granian workers and a worker would), a third one scrapes."""
    directory = tmp_path / "metrics"
    writers = []
    try:
        for count in (3, 4):
            proc = subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(directory), str(count)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            writers.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        found = _run_reader(directory)
        assert value(found, "mailbeacon_tracking_hits_total", kind="open", outcome="queued") == 7
        assert value(found, "mailbeacon_copies_sent_total", status="sent") == 2
        assert value(found, "mailbeacon_smtp_seconds_count") == 2
        assert value(found, "mailbeacon_live_subscribers") == 7
    finally:
        for proc in writers:
            proc.communicate("", timeout=30)
    # Both writers are gone: their live gauge no longer counts; counters stay until restart.
    found = _run_reader(directory)
    assert value(found, "mailbeacon_live_subscribers") == 0
    assert value(found, "mailbeacon_tracking_hits_total", kind="open", outcome="queued") == 7
    # A command starting anew forgets the files of processes that are gone.
    from plugin.observability.multiprocess import remove_dead_process_files

    remove_dead_process_files(directory, live_gauges_only=False)
    assert not list(directory.glob("*.db"))
