"""The embedded mode's durable hand-off: an append-only spool of hit batches on disk.

The in-process queue lives in memory; before an answered hit may be acknowledged
to its client it must survive a crash, so each batch is appended to a segment
file and fsynced first. At start, leftover segments from a previous run are read
back and their batches queued again; recording is idempotent (unique event id),
so replaying an already-recorded batch is harmless.

The spool holds raw client addresses, so it forgets recorded batches quickly:
a segment whose batches are all recorded is deleted at once (the usual case: the
consumer keeps up), and ``compact`` rewrites a segment that still holds recorded
batches next to unrecorded ones (a backlog) without them. The consumer calls
``compact`` at least once a second, so a recorded hit's address leaves the disk
within about two seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plugin.private_files import private_dir

__all__ = ["Receipt", "Spool"]

log = logging.getLogger(__name__)

_SEGMENT_BYTES = 16 * 1024 * 1024
_COMPACT_EVERY_SECONDS = 1.0

Receipt = tuple[str, int]  # (segment name, batch number in it)


class Spool:
    """Append-only segments of JSON lines, one line per numbered batch; thread-safe."""

    def __init__(self, directory: Path, *, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._pending: dict[str, set[int]] = {}  # segment -> batches not yet recorded
        self._dirty: set[str] = set()  # segments still holding a recorded batch on disk
        self._current: str | None = None
        self._fd: int | None = None
        self._size = 0
        self._next_batch = 0
        self._sequence = 0
        self._compacted_at = 0.0

    def recover(self) -> Iterator[tuple[Receipt, list[dict[str, Any]]]]:
        """Yield (receipt, batch) for every batch left by an earlier run; call before append."""
        private_dir(self.directory.parent, self.directory)
        for leftover in self.directory.glob("hits-*.jsonl.tmp"):  # a compaction cut short
            leftover.unlink(missing_ok=True)
        for path in sorted(self.directory.glob("hits-*.jsonl")):
            self._sequence = max(self._sequence, _sequence_of(path))
            # Count every batch before handing out the first: a batch recorded quickly
            # must not let the segment go while later batches are still only on disk.
            batches = list(_read_batches(path))
            with self._lock:
                self._pending[path.name] = {number for number, _ in batches}
            if not batches:
                path.unlink(missing_ok=True)
            for number, batch in batches:
                yield (path.name, number), batch

    def append(self, batch: list[dict[str, Any]]) -> Receipt:
        """Write one batch durably (fsync) and return its receipt. Blocking."""
        with self._lock:
            if self._fd is None or self._size >= self.segment_bytes:
                self._rotate()
            assert self._fd is not None and self._current is not None
            number = self._next_batch
            self._next_batch += 1
            line = _encode(number, batch)
            os.write(self._fd, line)
            os.fsync(self._fd)
            self._size += len(line)
            self._pending[self._current].add(number)
            return self._current, number

    def done(self, receipt: Receipt) -> None:
        """One batch is recorded: forget it (a fully recorded segment is deleted at once)."""
        segment, number = receipt
        with self._lock:
            pending = self._pending.get(segment)
            if pending is None:
                return
            pending.discard(number)
            if pending:
                self._dirty.add(segment)
                return
            if segment == self._current:
                self._close_current()
            self._delete(segment)

    def compact(self, *, force: bool = False) -> int:
        """Rewrite segments that hold recorded batches without them; return how many.

        Cheap when nothing is to be done; otherwise at most once a second unless ``force``.
        """
        with self._lock:
            if not self._dirty:
                return 0
            now = time.monotonic()
            if not force and now - self._compacted_at < _COMPACT_EVERY_SECONDS:
                return 0
            self._compacted_at = now
            dirty, self._dirty = self._dirty, set()
            for segment in dirty:
                if segment in self._pending:
                    self._rewrite(segment)
            return len(dirty)

    def close(self) -> None:
        with self._lock:
            current = self._current
            self._close_current()
            if current is not None and not self._pending.get(current):
                self._delete(current)

    def pending_batches(self) -> int:
        with self._lock:
            return sum(len(numbers) for numbers in self._pending.values())

    # Everything below runs with the lock held.

    def _rotate(self) -> None:
        self._close_current()
        private_dir(self.directory.parent, self.directory)
        self._sequence += 1
        name = f"hits-{self._sequence:012d}-{os.getpid()}.jsonl"
        self._fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_directory(self.directory)  # the new name survives a crash, not just its bytes
        self._current, self._size = name, 0
        self._pending.setdefault(name, set())

    def _close_current(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._current, self._size = None, None, 0

    def _delete(self, segment: str) -> None:
        self._pending.pop(segment, None)
        self._dirty.discard(segment)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / segment).unlink()

    def _rewrite(self, segment: str) -> None:
        keep = self._pending[segment]
        path = self.directory / segment
        if not keep:
            if segment == self._current:
                self._close_current()
            self._delete(segment)
            return
        lines = [raw for number, raw in _read_lines(path) if number in keep]
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)  # atomic: the old file, addresses and all, is gone
        _sync_directory(self.directory)
        if segment == self._current:  # keep appending to the rewritten file
            assert self._fd is not None
            os.close(self._fd)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._size = sum(len(line) for line in lines)


def _encode(number: int, batch: list[dict[str, Any]]) -> bytes:
    text = json.dumps({"n": number, "b": batch}, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sequence_of(path: Path) -> int:
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(batch number, raw line) of every complete line; unreadable lines are skipped."""
    with path.open("rb") as handle:
        for index, raw in enumerate(handle):
            if not raw.endswith(b"\n"):
                # Torn write of a batch whose fsync never returned: no client got an answer.
                log.warning("ignoring an incomplete batch at the end of %s", path.name)
                break
            try:
                data = json.loads(raw.decode("utf-8", "surrogatepass"))
            except ValueError:
                log.warning("ignoring an unreadable batch in %s", path.name)
                continue
            if isinstance(data, dict) and isinstance(data.get("n"), int):
                yield data["n"], raw
            elif isinstance(data, list):  # written by a release before numbered batches
                yield -1 - index, raw


def _read_batches(path: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    for number, raw in _read_lines(path):
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
        batch = data if isinstance(data, list) else data.get("b")
        if isinstance(batch, list):
            yield number, batch
