"""The embedded mode's durable hand-off: an append-only spool of hit batches on disk.

The in-process queue lives in memory; before an answered hit may be acknowledged
to its client it must survive a crash, so each batch is appended to a segment
file and fsynced first. A segment is deleted once it is closed (rotated) and
every batch written to it has been recorded. At start, leftover segments from
a previous run are read back and their batches queued again; recording is
idempotent (unique event id), so replaying an already-recorded batch is harmless.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plugin.private_files import private_dir

__all__ = ["Spool"]

log = logging.getLogger(__name__)

_SEGMENT_BYTES = 16 * 1024 * 1024


class Spool:
    """Append-only segments of JSON lines, one line per batch; thread-safe."""

    def __init__(self, directory: Path, *, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._outstanding: dict[str, int] = {}  # segment name -> batches not yet recorded
        self._closed: set[str] = set()
        self._current: str | None = None
        self._fd: int | None = None
        self._size = 0
        self._sequence = 0

    def recover(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield (segment, batch) for every batch left by an earlier run; call before append."""
        private_dir(self.directory.parent, self.directory)
        segments = sorted(self.directory.glob("hits-*.jsonl"))
        for path in segments:
            self._sequence = max(self._sequence, _sequence_of(path))
            # Count every batch before handing out the first: a batch recorded quickly
            # must not let the segment go while later batches are still only on disk.
            batches = list(_read_batches(path))
            with self._lock:
                self._closed.add(path.name)
                self._outstanding[path.name] = self._outstanding.get(path.name, 0) + len(batches)
            self._maybe_delete(path.name)
            for batch in batches:
                yield path.name, batch

    def append(self, batch: list[dict[str, Any]]) -> str:
        """Write one batch durably (fsync) and return the segment it went to. Blocking."""
        line = json.dumps(batch, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
        line += b"\n"
        with self._lock:
            if self._fd is None or self._size >= self.segment_bytes:
                self._rotate()
            assert self._fd is not None and self._current is not None
            os.write(self._fd, line)
            os.fsync(self._fd)
            self._size += len(line)
            self._outstanding[self._current] = self._outstanding.get(self._current, 0) + 1
            return self._current

    def done(self, segment: str) -> None:
        """One batch of ``segment`` is recorded; delete the segment when nothing is left."""
        with self._lock:
            if segment in self._outstanding:
                self._outstanding[segment] -= 1
        self._maybe_delete(segment)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._current is not None:
                self._closed.add(self._current)
                current = self._current
                self._current = None
            else:
                current = None
        if current is not None:
            self._maybe_delete(current)

    def pending_batches(self) -> int:
        with self._lock:
            return sum(self._outstanding.values())

    def _rotate(self) -> None:
        # Called with the lock held.
        if self._fd is not None:
            os.close(self._fd)
            assert self._current is not None
            self._closed.add(self._current)
            previous = self._current
        else:
            previous = None
        private_dir(self.directory.parent, self.directory)
        self._sequence += 1
        name = f"hits-{self._sequence:012d}-{os.getpid()}.jsonl"
        self._fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._current, self._size = name, 0
        self._outstanding.setdefault(name, 0)
        if previous is not None and self._outstanding.get(previous, 0) <= 0:
            self._delete_locked(previous)

    def _maybe_delete(self, segment: str) -> None:
        with self._lock:
            if segment in self._closed and self._outstanding.get(segment, 0) <= 0:
                self._delete_locked(segment)

    def _delete_locked(self, segment: str) -> None:
        self._closed.discard(segment)
        self._outstanding.pop(segment, None)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / segment).unlink()


def _sequence_of(path: Path) -> int:
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _read_batches(path: Path) -> Iterator[list[dict[str, Any]]]:
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                # Torn write of a batch whose fsync never returned: no client got an answer.
                log.warning("ignoring an incomplete batch at the end of %s", path.name)
                break
            try:
                batch = json.loads(raw.decode("utf-8", "surrogatepass"))
            except ValueError:
                log.warning("ignoring an unreadable batch in %s", path.name)
                continue
            if isinstance(batch, list):
                yield batch
