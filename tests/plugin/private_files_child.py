"""Run by test_private_files in a child process under umask 000: make every kind of data
file, then print the mode of everything in the data dir while the database is still open
(SQLite removes its -wal and -shm files when the last connection closes)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from email.message import EmailMessage
from pathlib import Path


async def main(data_dir: Path) -> dict[str, str]:
    from plugin.accounts.service import create_user
    from plugin.db import migrate, open_orm
    from plugin.sending.delivery import deliver
    from plugin.settings import load_settings
    from plugin.tracking.edge.spool import Spool

    # Development: no secret key given, so one is generated and kept in the data dir.
    environ = {"MAILBEACON_ENV": "development", "MAILBEACON_DATA_DIR": str(data_dir)}
    settings = load_settings(environ)
    await migrate(settings)
    async with open_orm(settings):
        await create_user("ada@example.com")
        Spool(data_dir / "spool").append([{"hit": 1}])
        message = EmailMessage()
        message["Message-ID"] = "<m1@example.com>"
        message.set_content("hello")
        await deliver(message, sender="a@example.com", recipients=["b@example.com"],
                      settings=settings)
        return {
            str(path.relative_to(data_dir)) or ".": oct(stat.S_IMODE(path.stat().st_mode))
            for path in [data_dir, *data_dir.rglob("*")]
        }


if __name__ == "__main__":
    os.umask(0)
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
