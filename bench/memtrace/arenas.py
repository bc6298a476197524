"""Read the ``<pid>-<n>.malloc`` files of a ``MB_MEMTRACE_KIND=malloc`` run: per sample and
arena, what glibc holds from the system, how much of it is free chunks, and the rest (in use).

Run: .venv/bin/python bench/memtrace/arenas.py DIR [--pid PID]
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

MIB = 2**20


def arenas(path: Path) -> list[tuple[str, int, int]]:
    """(arena, system bytes, free bytes) per heap, then the mmapped chunks as ("mmap", size, 0)."""
    root = ET.fromstring(path.read_bytes())
    found = []
    for heap in root.findall("heap"):
        system = sum(int(s.get("size", 0)) for s in heap.findall("system")
                     if s.get("type") == "current")
        free = sum(int(t.get("size", 0)) for t in heap.findall("total")
                   if t.get("type") in ("fast", "rest"))
        found.append((heap.get("nr", "?"), system, free))
    mmap = sum(int(t.get("size", 0)) for t in root.findall("total") if t.get("type") == "mmap")
    found.append(("mmap", mmap, 0))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory")
    parser.add_argument("--pid")
    args = parser.parse_args()
    files = sorted(Path(args.directory).glob(f"{args.pid or '*'}-*.malloc"))
    for path in files:
        rows = arenas(path)
        held = sum(system for _, system, _ in rows)
        free = sum(free for _, _, free in rows)
        detail = "  ".join(f"{name}:{system / MIB:.1f}/{free / MIB:.1f}" for name, system, free
                           in rows if system)
        print(f"{path.stem}: held {held / MIB:.1f} MiB, free {free / MIB:.1f}, in use "
              f"{(held - free) / MIB:.1f}  (arena:held/free MiB) {detail}")


if __name__ == "__main__":
    main()
