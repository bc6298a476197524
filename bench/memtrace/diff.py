"""Compare two tracemalloc snapshots of one process (written by sitecustomize.py here).

Run: .venv/bin/python bench/memtrace/diff.py OLD.snap NEW.snap [--top 25] [--by lineno|traceback]
     .venv/bin/python bench/memtrace/diff.py --types OLD.types NEW.types

Prints the allocation sites whose live size grew most between the two, with their
counts; ``--by traceback`` shows the frames that led there.
"""

from __future__ import annotations

import argparse
import tracemalloc


def _types(path: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(path) as source:
        for line in source:
            if line.startswith("#"):
                continue
            count, name = line.rstrip("\n").split("\t", 1)
            counts[name] = int(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--by", default="lineno", choices=("lineno", "traceback", "filename"))
    parser.add_argument("--types", action="store_true")
    args = parser.parse_args()
    if args.types:
        old, new = _types(args.old), _types(args.new)
        grown = sorted(new, key=lambda name: new[name] - old.get(name, 0), reverse=True)
        for name in grown[: args.top]:
            print(f"{new[name] - old.get(name, 0):+9d}  {new[name]:9d}  {name}")
        return
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>")]
    old = tracemalloc.Snapshot.load(args.old).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(args.new).filter_traces(ignore)
    total_old = sum(stat.size for stat in old.statistics("filename"))
    total_new = sum(stat.size for stat in new.statistics("filename"))
    print(f"traced: {total_old / 2**20:.1f} -> {total_new / 2**20:.1f} MiB")
    for stat in new.compare_to(old, args.by)[: args.top]:
        print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
              f"(now {stat.size / 1024:.0f} KiB)")
        frames = stat.traceback.format(limit=8 if args.by == "traceback" else 1)
        for line in frames:
            if line.strip():
                print("     " + line.strip())


if __name__ == "__main__":
    main()
