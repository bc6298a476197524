"""Metrics shared by every process of one machine: prometheus-client's multiprocess mode.

``serve --workers N`` runs N granian processes and ``mailbeacon worker`` runs
apart from them; each writes its metrics into memory-mapped files in one
directory (``MAILBEACON_METRICS_DIR``, default ``DATA_DIR/metrics``) and a
scrape of any server process merges them all. prometheus-client reads
``PROMETHEUS_MULTIPROC_DIR`` when it is first imported, so ``enable`` must run
before anything imports it (the command line does so first thing).

Files of processes that are gone are removed when a command starts (their
counters then restart from zero, which Prometheus reads as a counter reset);
live gauges of dead processes are dropped at every scrape.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["ENV_VAR", "enable", "multiprocess_dir", "remove_dead_process_files"]

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    """The directory of shared metrics, or None in a single process (tests, a host CRM)."""
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else None


def enable(directory: Path) -> None:
    """Share this process's (and its children's) metrics through ``directory``."""
    if "prometheus_client" in sys.modules and multiprocess_dir() != directory:
        raise RuntimeError(
            "metrics: multiprocess mode must be enabled before prometheus_client is imported"
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_dead_process_files(directory, live_gauges_only=False)
    os.environ[ENV_VAR] = str(directory)


def _pid_of(path: Path) -> int | None:
    # prometheus-client names them <type>[_<mode>]_<pid>.db
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_dead_process_files(directory: Path, *, live_gauges_only: bool = True) -> None:
    """Forget processes that are gone: their live gauges, or (at start) all their files."""
    pattern = "gauge_live*.db" if live_gauges_only else "*.db"
    for path in directory.glob(pattern):
        pid = _pid_of(path)
        if pid is not None and not _alive(pid):
            path.unlink(missing_ok=True)
