"""Bench-only memory tracing, loaded by every Python process started with this folder first
on PYTHONPATH and ``MB_MEMTRACE_DIR`` set (bench_soak.py --trace DIR does both).

Each process starts tracemalloc (``MB_MEMTRACE_FRAMES`` frames, default 8) and a daemon
thread that, every ``MB_MEMTRACE_EVERY`` seconds (default 30), writes to DIR:

- ``<pid>-<n>.snap``: a tracemalloc snapshot (compare two with bench/memtrace/diff.py);
- ``<pid>-<n>.types``: live objects counted by type (gc), the 80 commonest
  (asyncio Task objects included: a task that never ends shows up there).

A forked child (granian forks its workers) gets its own thread (os.register_at_fork).

``MB_MEMTRACE_ONLY=worker`` traces only the processes whose command line contains
"worker" (the others run at full speed). Nothing here runs unless the variable is
set; the product code knows nothing of it.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("MB_MEMTRACE_DIR")


def _start(directory: str) -> None:
    import collections
    import gc
    import sys
    import threading
    import time
    import tracemalloc

    argv = " ".join(sys.argv)
    only = os.environ.get("MB_MEMTRACE_ONLY")  # e.g. "worker": trace only matching commands
    if only and only not in argv:
        return
    every = float(os.environ.get("MB_MEMTRACE_EVERY", "30"))
    tracemalloc.start(int(os.environ.get("MB_MEMTRACE_FRAMES", "8")))
    os.makedirs(directory, exist_ok=True)

    def loop() -> None:
        n = 0
        while True:
            time.sleep(every)
            n += 1
            base = os.path.join(directory, f"{os.getpid()}-{n:03d}")
            try:
                tracemalloc.take_snapshot().dump(base + ".snap")
                objects = gc.get_objects()
                counts = collections.Counter(type(o).__qualname__ for o in objects)
                pools = [o for o in objects if type(o).__name__ == "ConnectionPool"]
                with open(base + ".types", "w") as out:
                    out.write(f"# {argv}\n# t={n * every:.0f}s traced "
                              f"{tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB\n")
                    for pool in pools:  # redis-py pools: how many connections each holds
                        held = len(getattr(pool, "_available_connections", ())) + len(
                            getattr(pool, "_in_use_connections", ()))
                        out.write(f"# pool {type(pool).__module__} {id(pool):x} {held} "
                                  f"connections, max {getattr(pool, 'max_connections', '?')}\n")
                    for name, count in counts.most_common(80):
                        out.write(f"{count}\t{name}\n")
                del objects, pools
            except Exception as exc:  # a dying process: nothing to report
                print(f"memtrace: {exc!r}", file=sys.stderr)

    def start_thread() -> None:
        threading.Thread(target=loop, name="memtrace", daemon=True).start()

    start_thread()
    os.register_at_fork(after_in_child=start_thread)


if _DIR:
    _start(_DIR)
