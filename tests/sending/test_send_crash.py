"""A worker SIGKILLed mid-job: copies it never handed to SMTP go out once after the lease;
those it handed (sent or not) end FAILED interrupted and are never sent again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from plugin.sending.models import EmailCopy, EmailStatus, SentEmail
from plugin.sending.recovery import recover_lost_copies
from plugin.sending.send_job import CLAIM_LEASE, INTERRUPTED
from plugin.tracking.edge.tokens import new_public_id
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
COPIES = 25
HANDED = 10  # the child builds (and so hands) two groups of 5, then its build stalls
ACCEPTED = 3  # of those, the stalling server accepts three, then stalls on DATA

# The worker: one send job's deliver_copies, with the build of every group after the
# first HANDED copies stalled for ever (a test hook: the kill lands before their hand-off).
_CHILD = """
import asyncio, os, sys
from plugin.cpu import configure_cpu_pool
from plugin.db import open_orm
from plugin.sending import send_job
from plugin.settings import load_settings

handed, ids = int(sys.argv[1]), [int(i) for i in sys.argv[2].split(",")]
real_build, built = send_job._build, 0

async def build(email, chunk, *args):
    global built
    if built >= handed:
        await asyncio.Event().wait()
    built += len(chunk)
    return await real_build(email, chunk, *args)

send_job._build = build

async def main():
    settings = load_settings(os.environ)
    configure_cpu_pool(1, "thread")
    async with open_orm(settings):
        await send_job.deliver_copies(ids, settings)

asyncio.run(main())
"""


class StallingServer:
    """Accepts the first ``accept`` messages, then holds every DATA until released."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.accepted: list[Any] = []
        self.stalled = 0
        self.released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if len(self.accepted) < self.accept:
            self.accepted.append(envelope)
            return "250 OK"
        self.stalled += 1
        while not self.released.is_set():
            await asyncio.sleep(0.05)
        return "451 4.3.0 stalled"


async def _until(check: Any, what: str, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_worker_killed_mid_job_resends_only_the_copies_never_handed(
    make_user: Any, smtp_server: Any, settings: Any, base_env: dict[str, str],
    tmp_path: Path,
) -> None:
    from aiosmtpd.controller import Controller

    user = await make_user()
    recipients = [f"crash{i:02d}@example.com" for i in range(COPIES)]
    email = await SentEmail.create(user_id=user.id, subject="crash", to_addresses=recipients,
                                   html="<p>crash</p>", track_per_recipient=True)
    copies = [
        await EmailCopy.create(email_id=email.id, public_id=new_public_id().hex(),
                               recipient=r, envelope_to=[r], message_id=f"<c{i}@x.test>")
        for i, r in enumerate(recipients)
    ]
    stalling = StallingServer(ACCEPTED)
    controller = Controller(stalling, hostname="127.0.0.1", port=free_port())
    controller.start()
    env = {**os.environ, **base_env,
           "MAILBEACON_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(HANDED), ",".join(str(c.id) for c in copies)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        handed = EmailCopy.filter(email_id=email.id, handed_at__isnull=False)

        async def mid_job() -> bool:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            return (len(stalling.accepted) == ACCEPTED and stalling.stalled > 0
                    and await handed.count() == HANDED)

        await _until(mid_job, "the worker to hand two groups and stall")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        log.close()
        stalling.released.set()
        controller.stop()

    rows = {c.recipient: c for c in await EmailCopy.filter(email_id=email.id)}
    assert all(c.status == EmailStatus.SENDING for c in rows.values())
    was_handed = {r for r, c in rows.items() if c.handed_at is not None}
    assert len(was_handed) == HANDED
    # What the server has is among the handed copies (the mark came first).
    assert {a for e in stalling.accepted for a in e.rcpt_tos} <= was_handed
    never_handed = set(recipients) - was_handed

    # Within the lease nothing moves; past it, the sweep settles every copy of the job.
    # (Counts are lower bounds: other tests' copies may be in the table too.)
    mine = EmailCopy.filter(email_id=email.id)
    await recover_lost_copies(settings)
    assert await mine.filter(status=EmailStatus.SENDING).count() == COPIES
    after_lease = datetime.now(UTC) + CLAIM_LEASE + timedelta(seconds=1)
    requeued, failed = await recover_lost_copies(settings, now=after_lease)
    assert requeued >= len(never_handed) and failed >= HANDED

    async def resent() -> bool:
        return await EmailCopy.filter(
            email_id=email.id, recipient__in=list(never_handed), status=EmailStatus.SENT
        ).count() == len(never_handed)

    await _until(resent, "the never-handed copies to be sent")
    # A later sweep (even past another lease) finds nothing to do.
    later = after_lease + CLAIM_LEASE + timedelta(seconds=1)
    await recover_lost_copies(settings, now=later)

    delivered = [a for e in smtp_server.envelopes if e.mail_from == user.email
                 for a in e.rcpt_tos]
    assert sorted(delivered) == sorted(never_handed)  # each exactly once, none handed
    for recipient, copy in rows.items():
        final = await EmailCopy.get(id=copy.id)
        if recipient in was_handed:
            assert final.status == EmailStatus.FAILED and final.error == INTERRUPTED
            assert final.attempts == 1
        else:
            assert final.status == EmailStatus.SENT and final.error is None
            assert final.attempts == 2  # retried as usual: claimed again
            assert final.handed_at is not None
    assert (await SentEmail.get(id=email.id)).status == EmailStatus.FAILED
