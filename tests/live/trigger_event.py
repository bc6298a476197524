"""Run as ``python -m tests.live.trigger_event USER_ID [mail]`` in the distributed test.

With ``mail``: only make a tracked email for the user (its rows in the private
database) and print ``EMAIL <id>`` and ``OPEN <pixel path>``, for a real pixel hit.
Without: a stand-in for a tracking worker that stores one HUMAN open, commits and
calls the live dispatch as the pipeline does; prints ``EMAIL`` and ``EVENT``.
"""

from __future__ import annotations

import asyncio
import sys

from plugin.composition import start_runtime, stop_runtime
from plugin.db import open_orm
from plugin.live.bus import close_publishers
from plugin.runtime import current_runtime
from plugin.settings import load_settings
from plugin.tracking.pipeline.after_commit import after_events_committed
from tests.live.factories import make_email, store_event


async def main(user_id: int, mail_only: bool) -> None:
    settings = load_settings()
    async with open_orm(settings):
        if mail_only:
            from tests.tracking.tracked_mail import make_tracked_mail

            mail = await make_tracked_mail(settings, user_id)
            print(f"EMAIL {mail.email.id}\nOPEN {mail.open_path()}", flush=True)
            return
        runtime = start_runtime(settings, embedded_worker=False)
        try:
            email = await make_email(user_id)
            event = await store_event(email)
            await after_events_committed([event], current_runtime().settings)
            print(f"EMAIL {email.id}\nEVENT {event.event_id}", flush=True)
        finally:
            close_publishers()
            runtime.broker.close()
            await stop_runtime(runtime)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:] == ["mail"]))
