"""Bench-only memory tracing, loaded by every Python process started with this folder first
on PYTHONPATH and ``MB_MEMTRACE_DIR`` set (bench_soak.py --trace DIR does both).

Each process starts tracemalloc (``MB_MEMTRACE_FRAMES`` frames, default 8) and a daemon
thread that, every ``MB_MEMTRACE_EVERY`` seconds (default 30), writes to DIR:

- ``<pid>-<n>.snap``: a tracemalloc snapshot (compare two with bench/memtrace/diff.py);
- ``<pid>-<n>.types``: live objects counted by type (gc), the 80 commonest
  (asyncio Task objects included: a task that never ends shows up there).

A forked child (granian forks its workers) gets its own thread (os.register_at_fork).

``MB_MEMTRACE_ONLY=worker`` traces only the processes whose command line contains
"worker" (the others run at full speed). ``MB_MEMTRACE_KIND=malloc`` writes glibc's
``malloc_info`` instead (``<pid>-<n>.malloc``: per arena, the memory it holds from the
system and how much of it is free chunks), without tracemalloc: the process runs at
full speed, so the soak's RSS figures stay valid (read with bench/memtrace/arenas.py).
Nothing here runs unless the variable is set; the product code knows nothing of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_DIR = os.environ.get("MB_MEMTRACE_DIR")


def _every(directory: str, every: float, write: Callable[[str, int], None]) -> None:
    """Call ``write(<dir>/<pid>-<n>, n)`` every ``every`` s on a daemon thread, in this
    process and in every child it forks (granian forks its workers)."""
    import sys
    import threading
    import time

    os.makedirs(directory, exist_ok=True)

    def loop() -> None:
        n = 0
        while True:
            time.sleep(every)
            n += 1
            try:
                write(os.path.join(directory, f"{os.getpid()}-{n:03d}"), n)
            except Exception as exc:  # a dying process: nothing to report
                print(f"memtrace: {exc!r}", file=sys.stderr)

    def start_thread() -> None:
        threading.Thread(target=loop, name="memtrace", daemon=True).start()

    start_thread()
    os.register_at_fork(after_in_child=start_thread)


def _start(directory: str) -> None:
    import sys

    argv = " ".join(sys.argv)
    only = os.environ.get("MB_MEMTRACE_ONLY")  # e.g. "worker": trace only matching commands
    if only and only not in argv:
        return
    every = float(os.environ.get("MB_MEMTRACE_EVERY", "30"))
    if os.environ.get("MB_MEMTRACE_KIND") == "malloc":
        _every(directory, every, _write_malloc_info)
        return
    import tracemalloc

    tracemalloc.start(int(os.environ.get("MB_MEMTRACE_FRAMES", "8")))
    _every(directory, every, lambda base, n: _write_snapshot(base, f"{argv}\n# t={n * every:.0f}s"))


def _write_snapshot(base: str, header: str) -> None:
    import collections
    import gc
    import tracemalloc

    tracemalloc.take_snapshot().dump(base + ".snap")
    objects = gc.get_objects()
    counts = collections.Counter(type(o).__qualname__ for o in objects)
    pools = [o for o in objects if type(o).__name__ == "ConnectionPool"]
    with open(base + ".types", "w") as out:
        out.write(f"# {header} traced {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB\n")
        for pool in pools:  # redis-py pools: how many connections each holds
            held = len(getattr(pool, "_available_connections", ())) + len(
                getattr(pool, "_in_use_connections", ()))
            out.write(f"# pool {type(pool).__module__} {id(pool):x} {held} "
                      f"connections, max {getattr(pool, 'max_connections', '?')}\n")
        for name, count in counts.most_common(80):
            out.write(f"{count}\t{name}\n")


def _malloc_info() -> bytes:
    """glibc's malloc_info(0) XML, through a memory stream."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.POINTER(ctypes.c_size_t)]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.free.argtypes = [ctypes.c_void_p]
    buf, size = ctypes.c_void_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    try:
        return ctypes.string_at(buf.value, size.value) if buf.value else b""
    finally:
        libc.free(buf)


def _write_malloc_info(base: str, n: int) -> None:
    with open(base + ".malloc", "wb") as out:
        out.write(_malloc_info())


if _DIR:
    _start(_DIR)
