"""Mailbeacon's files hold recipients' addresses and email bodies: owner-only, whatever the umask.

Folders are 0700 and files 0600. Files created with an explicit 0600 (``os.open``,
``tempfile.mkstemp``) are already private under any umask (a umask only removes bits);
folders and the SQLite database are not, so they go through here. Existing ones are
tightened too, so an installation made before this rule becomes private at its next start.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "private_dir", "private_sqlite_file"]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(*folders: Path) -> None:
    """Make each folder owner-only (in order, e.g. the data dir then its spool).

    Missing parents are created owner-only too; existing parents are left alone.
    """
    for folder in folders:
        missing = [folder, *(p for p in folder.parents if not p.exists())]
        for path in reversed(missing):
            # mkdir's mode is reduced by the umask, never widened: chmod sets it exactly.
            path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            if path == folder or not path.is_symlink():
                os.chmod(path, PRIVATE_DIR_MODE)


def private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it, and tighten what exists.

    SQLite gives its -wal and -shm files the database file's mode, so they follow.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(companion, PRIVATE_FILE_MODE)
