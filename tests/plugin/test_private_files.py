"""Data files are the owner's alone (0700 folders, 0600 files) whatever the umask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def modes_after_a_run(data_dir: Path) -> dict[str, str]:
    """Make every kind of data file in a child process with umask 000; their modes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.plugin.private_files_child", str(data_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    modes: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modes


@pytest.mark.parametrize("existing", [False, True], ids=["new", "made-before"])
def test_every_data_file_is_private_under_a_permissive_umask(
    tmp_path: Path, existing: bool
) -> None:
    data_dir = tmp_path / "var"
    if existing:  # an installation made before the rule: world-readable everything
        data_dir.mkdir(mode=0o755)
        os.chmod(data_dir, 0o755)
        (data_dir / "mailbeacon.sqlite3").touch()
        os.chmod(data_dir / "mailbeacon.sqlite3", 0o644)
    modes = modes_after_a_run(data_dir)
    kinds = {
        "database": "mailbeacon.sqlite3",
        "WAL": "mailbeacon.sqlite3-wal",
        "shared memory": "mailbeacon.sqlite3-shm",
        "secret key": "secret_key",
        "spool folder": "spool",
        "outbox folder": "outbox",
    }
    for kind, name in kinds.items():
        assert name in modes, f"the run made no {kind} ({name}): {sorted(modes)}"
    assert any(n.startswith("spool/hits-") for n in modes)
    assert any(n.startswith("outbox/") and n.endswith(".eml") for n in modes)
    folders = {".", "spool", "outbox"}
    wrong = {
        name: mode for name, mode in modes.items()
        if mode != ("0o700" if name in folders else "0o600")
    }
    assert wrong == {}
